/*
 * What the plan executor's files share (executor.c runs the steps of
 * steps_*.c). Not a public interface: plan.h is the one nsenter.c and
 * stage.c use.
 */
#ifndef STRATA_EXECUTOR_H
#define STRATA_EXECUTOR_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "plan.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* x86_64 and arm64 numbers, where glibc's headers are older than the calls. */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Newer libcs' <sys/mount.h> has these. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x01
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x01
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x02
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x04
#endif
#ifndef MOUNT_ATTR_NOEXEC
#define MOUNT_ATTR_NOEXEC 0x08
#endif
#ifndef RESOLVE_NO_XDEV
#define RESOLVE_NO_XDEV 0x01
#endif
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif

struct open_how_v0 {
	uint64_t flags, mode, resolve;
};

#define MAX_TIMED 512

/* What the steps share: the parent's socket and what earlier steps left. */
struct executor {
	int sync;
	int procfd;       /* private procfs, once a procfs step ran */
	int fifofd;       /* the exec fifo's write end, once opened */
	int rootfd;       /* the root paths resolve beneath (open-root) */
	int nullfd;       /* the container's checked /dev/null (mask) */
	int ntrees;       /* mount trees the parent sent (receive-trees): */
	int *tree_index;  /* their index in the spec's mounts */
	int *tree_fd;     /* and fd, -1 once attached */
	int cwd_pending;  /* OP_CHDIR met EACCES: OP_CHDIR_DEFERRED retries */
	char *program;    /* what OP_FIND_PROGRAM found */
	const char *what; /* the running step's words */
	const char *eperm;
	int ntimed;         /* steps timed so far (the first MAX_TIMED) */
	struct timed_step {
		int op;
		const char *what;
		int64_t ns;
	} timed[MAX_TIMED];
	char notes[4096];   /* JSON array items: strings */
};

struct reader {
	struct executor *x;
	const unsigned char *p, *end;
};

/* Reporting (executor.c). */
void ex_fail_code(struct executor *x, int code, int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));
#define fail(x, err, ...) ex_fail_code(x, 1, err, __VA_ARGS__)
void ex_note(struct executor *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ex_send(struct executor *x, char type, const char *payload, size_t len);
char *ex_timings_json(struct executor *x);

/* Reading a step's arguments (executor.c). */
uint64_t ex_int(struct reader *r);
char *ex_bytes(struct reader *r, size_t *len);
char *ex_str(struct reader *r);
void ex_argv_envp(struct reader *r, char ***argv, char ***envp);
const char *ex_cap_name(const char *names, int n, char *buf, size_t size);

/* The steps: steps_process.c, steps_credentials.c, steps_sync.c. */
void step_setsid(struct executor *x, struct reader *r);
void step_terminal(struct executor *x, struct reader *r);
void step_rlimit(struct executor *x, struct reader *r);
void step_sched(struct executor *x, struct reader *r);
void step_ioprio(struct executor *x, struct reader *r);
void step_affinity(struct executor *x, struct reader *r);
void step_personality(struct executor *x, struct reader *r);
void step_mempolicy(struct executor *x, struct reader *r);
void step_cap_bounding(struct executor *x, struct reader *r);
void step_chdir(struct executor *x, struct reader *r);
void step_chdir_deferred(struct executor *x, struct reader *r);
void step_procfs(struct executor *x, struct reader *r);
void step_lsm_attr(struct executor *x, struct reader *r);
void step_close_from(struct executor *x, struct reader *r);
void step_stdio_owner(struct executor *x, struct reader *r);
void step_seccomp(struct executor *x, struct reader *r);
void step_identity(struct executor *x, struct reader *r);
void step_caps(struct executor *x, struct reader *r);
void step_no_new_privs(struct executor *x, struct reader *r);
void step_find_program(struct executor *x, struct reader *r);
void step_clear_death_sig(struct executor *x, struct reader *r);
void step_await_placement(struct executor *x, struct reader *r);
void step_ready(struct executor *x, struct reader *r);
void step_release(struct executor *x, struct reader *r);
void step_open_fifo(struct executor *x, struct reader *r);
void step_hook(struct executor *x, struct reader *r);
void step_write_fifo(struct executor *x, struct reader *r);
void step_exec(struct executor *x, struct reader *r);
void step_runtime_hooks(struct executor *x, struct reader *r);

/* The rootfs steps: steps_rootfs.c. */
void step_umask(struct executor *x, struct reader *r);
void step_mount_path(struct executor *x, struct reader *r);
void step_open_root(struct executor *x, struct reader *r);
void step_mount(struct executor *x, struct reader *r);
void step_bind(struct executor *x, struct reader *r);
void step_set_attr(struct executor *x, struct reader *r);
void step_mknod(struct executor *x, struct reader *r);
void step_symlink(struct executor *x, struct reader *r);
void step_pivot(struct executor *x, struct reader *r);
void step_mask(struct executor *x, struct reader *r);
void step_readonly(struct executor *x, struct reader *r);
void step_stdio_null(struct executor *x, struct reader *r);
void step_write_proc(struct executor *x, struct reader *r);
void step_set_hostname(struct executor *x, struct reader *r);
void step_session_keyring(struct executor *x, struct reader *r);
void step_unshare(struct executor *x, struct reader *r);
void step_close_root(struct executor *x, struct reader *r);
void step_receive_trees(struct executor *x, struct reader *r);
void step_attach_tree(struct executor *x, struct reader *r);

/* Shared by steps of different files. */
int ex_open_in_procfs(struct executor *x, const char *path, int flags);
int ex_detached_mount(struct executor *x, const char *fstype, unsigned int attrs);

#endif

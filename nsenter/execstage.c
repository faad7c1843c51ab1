/*
 * The last stage of the container init: wait for start, then execve the
 * user's program.
 *
 * The Go init has done all the setup; it then executes strata again with
 * _STRATA_EXEC set, and this stage runs from the ELF constructor, before
 * the Go runtime would start. The process waiting in the created state is
 * therefore this small C code (a couple of MB resident, like crun), not a
 * Go runtime that has parsed the spec and mounted the rootfs (four times
 * that). Re-executing a binary the kernel already has in its page cache,
 * without starting its runtime, costs a fraction of a millisecond.
 *
 * _STRATA_EXEC=<sync fd>,<procfs fd>,<fifo fd>,<program fd>,<seccomp fd>,<flags>
 *   sync fd     the parent's socket: an execve failure is reported on it
 *   procfs fd   a private procfs of the container's pid namespace
 *   fifo fd     O_PATH fd of the exec fifo; or its write end, opened and
 *               written, when the Go init has already waited (it had
 *               startContainer hooks to run); -1 for exec'd processes
 *   program fd  a memfd: "<argc> <envc>\0" path\0 argv...\0 envp...\0
 *   seccomp fd  a memfd holding the container's seccomp filter (struct
 *               sock_filter[], compiled by the parent), or -1 when there is
 *               none or the Go init had to load it (see
 *               libcontainer/seccomp_linux.go); flags are seccomp(2)'s.
 *               Loaded as the very last step before execve: nothing the
 *               runtime does runs under the container's filter.
 *
 * Capability sets are unchanged by this extra execve: the kernel's
 * transformation is idempotent for the sets the Go init left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int exec_sync = -1;

static void __attribute__((noreturn)) exec_fail(const char *what, const char *arg)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "E%s %s: %s", what, arg, strerror(errno));

	if (n > (int)sizeof(msg) - 1)
		n = sizeof(msg) - 1;
	/* The parent of `run` reads this; after `create` nobody does. */
	if (exec_sync < 0 || send(exec_sync, msg, n, MSG_NOSIGNAL) < 0)
		fprintf(stderr, "strata: %s\n", msg + 1);
	_exit(127);
}

static char *read_program(int fd, size_t *len)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf;

	if (size <= 0)
		exec_fail("read the program description", "memfd");
	buf = malloc(size + 1);
	if (!buf || pread(fd, buf, size, 0) != size)
		exec_fail("read the program description", "memfd");
	buf[size] = '\0';
	*len = size;
	return buf;
}

/* Splits the NUL-separated strings starting at p into a NULL-terminated array. */
static char **take(char **p, char *end, int n)
{
	char **v = calloc(n + 1, sizeof(char *));

	if (!v)
		exec_fail("allocate", "argv");
	for (int i = 0; i < n; i++) {
		if (*p >= end)
			exec_fail("parse the program description", "memfd");
		v[i] = *p;
		*p += strlen(*p) + 1;
	}
	return v;
}

/* Reads the seccomp filter from its memfd into prog. */
static void read_filter(int fd, struct sock_fprog *prog)
{
	off_t size = lseek(fd, 0, SEEK_END);
	void *buf;

	if (size <= 0 || size % sizeof(struct sock_filter) != 0 ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		exec_fail("read the seccomp filter", "memfd");
	buf = malloc(size);
	if (!buf || pread(fd, buf, size, 0) != size)
		exec_fail("read the seccomp filter", "memfd");
	prog->len = size / sizeof(struct sock_filter);
	prog->filter = buf;
	close(fd);
}

void strata_exec_stage(const char *spec)
{
	int procfd, fifofd, progfd, filterfd, argc, envc;
	unsigned int filterflags;
	size_t len;
	char *buf, *p, *path, **argv, **envp, fdpath[64];
	struct sock_fprog filter = { 0 };

	if (sscanf(spec, "%d,%d,%d,%d,%d,%u", &exec_sync, &procfd, &fifofd, &progfd,
		   &filterfd, &filterflags) != 6)
		exec_fail("parse _STRATA_EXEC", spec);
	/* execve made the process dumpable again; nothing may attach to it. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		exec_fail("prctl", "PR_SET_DUMPABLE");

	buf = read_program(progfd, &len);
	if (sscanf(buf, "%d %d", &argc, &envc) != 2 || argc < 1 || envc < 0)
		exec_fail("parse the program description", buf);
	p = buf + strlen(buf) + 1;
	path = p;
	p += strlen(p) + 1;
	argv = take(&p, buf + len, argc);
	envp = take(&p, buf + len, envc);
	if (filterfd >= 0)
		read_filter(filterfd, &filter);

	if (fifofd >= 0 && (fcntl(fifofd, F_GETFL) & O_PATH)) {
		/*
		 * The created state: opening the fifo for writing blocks until
		 * `start` opens it for reading. Through the private procfs, as
		 * the container's /proc may be anything by now.
		 */
		int fd;

		snprintf(fdpath, sizeof(fdpath), "%d/fd/%d", getpid(), fifofd);
		fd = openat(procfd, fdpath, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			exec_fail("open the exec fifo", fdpath);
		if (write(fd, "", 1) != 1)
			exec_fail("write the exec fifo", fdpath);
		close(fifofd);
		fifofd = fd;
	}
	/*
	 * The fifo's write end stays open until execve closes it (O_CLOEXEC):
	 * `start` reads that end of file as "the program runs", and only then
	 * runs the poststart hooks. (A Go init that waited for start itself
	 * passes the end it wrote, already open.)
	 */
	if (fifofd >= 0 && fcntl(fifofd, F_SETFD, FD_CLOEXEC) < 0)
		exec_fail("fcntl", "exec fifo");
	close(procfd);
	close(progfd);
	/* The socket closes on execve: `run` reads that as success. */
	if (fcntl(exec_sync, F_SETFD, FD_CLOEXEC) < 0)
		exec_fail("fcntl", "sync socket");
	/*
	 * linux.seccomp: the process is single-threaded, so no TSYNC; the Go
	 * init set no_new_privs, or left CAP_SYS_ADMIN, as loading needs.
	 */
	if (filter.len > 0 &&
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filterflags, &filter) < 0)
		exec_fail("load the seccomp filter", "linux.seccomp");
	execve(path, argv, envp);
	exec_fail("exec", path);
}

/*
 * The first steps of the container init, run before the Go runtime starts.
 *
 * The parent (`strata create` or `strata run`) re-executes strata with
 * _STRATA_INITPIPE naming a SOCK_SEQPACKET socket. Every message is one
 * datagram: a type byte then a payload. This half of the protocol is:
 *
 *   parent                              init (this file)
 *   'B' bootstrap ---------------------> join namespaces given by path
 *                                        unshare(CLONE_NEWUSER)    (if asked)
 *       <------------------------------- 'U' userns made, map me
 *   write uid_map, gid_map
 *   'M' mapped ------------------------> setresuid/gid(0)
 *                                        unshare(the other new namespaces)
 *                                        write timens_offsets     (if asked)
 *                                        clone(CLONE_PARENT)      (pid/time ns)
 *       <------------------------------- 'P' <pid of the final init>
 *   'Q' plan (with the plan record) ---> executor.c runs it, never returning
 *   (else the rest of the protocol is spoken by the Go init: libcontainer/sync.go)
 *
 * Any failure is sent as 'E' <message> and the process exits 1.
 *
 * The bootstrap payload is a list of NUL-terminated records:
 *   clone=<decimal CLONE_NEW* flags>     namespaces to create
 *   join=<decimal CLONE_NEW* type>:<path> namespaces to join, in order
 *   timens=<text for /proc/self/timens_offsets>
 *   cgroup=<fd>:<path>                   a v1 hierarchy's tasks file to
 *                                        enter (libcontainer/cgroups/entry.go)
 *   plan                                 no Go half: the plan follows 'P'
 *                                        (an exec'd process, or an init
 *                                        whose rootfs the plan builds)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plan.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_JOINS 16
#define MAX_CGROUPS 32
#define MSG_MAX 65536

static int syncfd = -1;

/* stage.c: the init's last stage; it does not return. */
extern void strata_exec_stage(const char *spec) __attribute__((noreturn));

static void send_msg(char type, const char *payload, size_t len)
{
	char buf[4096];
	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	buf[0] = type;
	memcpy(buf + 1, payload, len);
	/* Nothing useful can be done if this fails: the parent sees EOF. */
	(void)send(syncfd, buf, len + 1, MSG_NOSIGNAL);
}

static void __attribute__((noreturn, format(printf, 1, 2))) bail(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n, saved = errno;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (saved && (size_t)n < sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - n, ": %s", ex_errstr(saved));
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	send_msg('E', msg, n);
	_exit(1);
}

static void expect(char type)
{
	char c;
	ssize_t n = recv(syncfd, &c, 1, 0);
	if (n != 1 || c != type)
		bail("nsenter: expected message '%c' from the parent, got %zd bytes", type, n);
}

static const char *nsname(int type)
{
	switch (type) {
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWNS: return "mount";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWNET: return "network";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWTIME: return "time";
	}
	return "unknown";
}

struct join {
	int type;
	const char *path;
	int fd;
};

/*
 * Every path is opened before the first setns: once the mount namespace
 * changes, host paths no longer resolve. The user namespace is joined first
 * so that joining the others is checked against its capabilities; the parent
 * already sent them in that order.
 */
static void join_namespaces(struct join *joins, int n)
{
	for (int i = 0; i < n; i++) {
		joins[i].fd = open(joins[i].path, O_RDONLY | O_CLOEXEC);
		if (joins[i].fd < 0)
			bail("linux.namespaces: open %s namespace path %s", nsname(joins[i].type), joins[i].path);
	}
	for (int i = 0; i < n; i++) {
		if (setns(joins[i].fd, joins[i].type) < 0)
			bail("linux.namespaces: join %s namespace %s", nsname(joins[i].type), joins[i].path);
		close(joins[i].fd);
	}
}

/*
 * setns into a user namespace keeps the caller's ids, which the namespace
 * need not map (host root in a CRI pod's userns): files the init then makes,
 * such as a mount point in its /dev tmpfs, fail with EOVERFLOW. As runc
 * does, the process becomes the namespace's root; an exec'd process takes
 * its own user later, in the plan's identity step.
 */
static void become_root_in_joined_userns(const struct join *joins, int n)
{
	for (int i = 0; i < n; i++) {
		if (joins[i].type != CLONE_NEWUSER)
			continue;
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			bail("linux.namespaces: become root in the user namespace %s (are uid and gid 0 mapped there?)", joins[i].path);
		return;
	}
}

static void write_timens_offsets(const char *offsets)
{
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		bail("linux.timeOffsets: open /proc/self/timens_offsets");
	if (write(fd, offsets, strlen(offsets)) < 0)
		bail("linux.timeOffsets: write %s", offsets);
	close(fd);
}

/* Splits a "<key>=<number>:<path>" record (the key is skip bytes long):
 * returns the number, points *path at the path. */
static int number_and_path(char *rec, size_t skip, const char **path)
{
	char *colon = strchr(rec + skip, ':');
	if (!colon)
		bail("nsenter: malformed bootstrap record %s", rec);
	*colon = '\0';
	*path = colon + 1;
	return atoi(rec + skip);
}

struct cgroup_entry {
	int fd;
	const char *path;
};

/*
 * Moves this process into the container's v1 hierarchies by writing "0" to
 * their tasks files, which the parent opened: first of all, so that
 * everything after (forks, namespaces) is counted there, and while the
 * process is single-threaded, so that moving this one thread moves all of
 * it. A thread writing itself skips the rwsem (and its RCU grace period)
 * that the parent's cgroup.procs write would take (Linux 6.0).
 */
static void enter_cgroups(struct cgroup_entry *cgs, int n)
{
	for (int i = 0; i < n; i++) {
		if (write(cgs[i].fd, "0", 1) != 1)
			bail("cgroups: enter %s", cgs[i].path);
		close(cgs[i].fd);
	}
}

/*
 * Go raises its soft RLIMIT_NOFILE to the hard limit when it starts and
 * puts the old value back only around its own execs. The init leaves Go
 * through a raw execveat, so it passes the user's program the limit the
 * init was started with, saved here, before Go changes it.
 */
static void save_nofile_limit(void)
{
	struct rlimit r;
	char buf[64];

	if (getrlimit(RLIMIT_NOFILE, &r) < 0)
		bail("nsenter: getrlimit(RLIMIT_NOFILE)");
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r.rlim_cur);
	if (setenv("_STRATA_NOFILE", buf, 1) < 0)
		bail("nsenter: setenv");
}

/* An exec'd process: the plan comes next, in one datagram of any size. */
static void __attribute__((noreturn)) run_plan_from_parent(void)
{
	char type;
	ssize_t len = recv(syncfd, &type, 1, MSG_PEEK | MSG_TRUNC);
	unsigned char *buf;

	if (len < 1)
		_exit(1); /* the parent is gone */
	buf = malloc(len);
	if (!buf || recv(syncfd, buf, len, 0) != len || buf[0] != 'Q')
		bail("nsenter: expected the plan from the parent");
	strata_run_plan(syncfd, buf + 1, len - 1);
}

void strata_nsenter(void)
{
	static char msg[MSG_MAX];
	struct join joins[MAX_JOINS];
	struct cgroup_entry cgs[MAX_CGROUPS];
	const char *env, *timens = NULL;
	int njoins = 0, ncgs = 0, cloneflags = 0, must_fork = 0, has_plan = 0;
	ssize_t len;
	pid_t pid;
	char pidbuf[32];

	env = getenv("_STRATA_EXEC");
	if (env)
		strata_exec_stage(env);
	env = getenv("_STRATA_INITPIPE");
	if (!env)
		return;
	syncfd = atoi(env);
	save_nofile_limit();

	/*
	 * Non-dumpable until the user's program is exec'd: a container process
	 * must not reach this binary through /proc/<init>/exe (CVE-2019-5736).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("nsenter: prctl(PR_SET_DUMPABLE)");
	/* Exec'd as /proc/self/fd/N, the process is named "N" by the kernel:
	 * what ps -e and top would show for a created container's init. */
	prctl(PR_SET_NAME, "strata", 0, 0, 0);

	len = recv(syncfd, msg, sizeof(msg) - 1, MSG_TRUNC);
	if (len < 1 || msg[0] != 'B')
		bail("nsenter: expected the bootstrap message, got %zd bytes", len);
	if ((size_t)len >= sizeof(msg))
		bail("nsenter: bootstrap message of %zd bytes is too large", len);
	msg[len] = '\0';
	for (char *rec = msg + 1, *next; rec < msg + len; rec = next) {
		/* Taken before the record is cut in two at its colon. */
		next = rec + strlen(rec) + 1;
		if (!strncmp(rec, "clone=", 6)) {
			cloneflags = atoi(rec + 6);
		} else if (!strncmp(rec, "join=", 5)) {
			if (njoins == MAX_JOINS)
				bail("nsenter: too many join records");
			joins[njoins].type = number_and_path(rec, 5, &joins[njoins].path);
			if (joins[njoins].type & (CLONE_NEWPID | CLONE_NEWTIME))
				must_fork = 1;
			njoins++;
		} else if (!strncmp(rec, "cgroup=", 7)) {
			if (ncgs == MAX_CGROUPS)
				bail("nsenter: too many cgroup records");
			cgs[ncgs].fd = number_and_path(rec, 7, &cgs[ncgs].path);
			ncgs++;
		} else if (!strncmp(rec, "timens=", 7)) {
			timens = rec + 7;
		} else if (!strcmp(rec, "plan")) {
			has_plan = 1;
		} else {
			bail("nsenter: unknown bootstrap record %s", rec);
		}
	}

	enter_cgroups(cgs, ncgs);
	join_namespaces(joins, njoins);
	become_root_in_joined_userns(joins, njoins);

	if (cloneflags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("linux.namespaces: create user namespace");
		/*
		 * Only the parent, outside the new namespace, may write the maps.
		 * An unprivileged parent may open /proc/<pid>/uid_map only while
		 * this process is dumpable; nothing of the container exists yet
		 * to reach it through /proc, and it is non-dumpable again before
		 * anything does.
		 */
		int rootless = geteuid() != 0;
		if (rootless && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			bail("nsenter: prctl(PR_SET_DUMPABLE)");
		send_msg('U', "", 0);
		expect('M');
		if (rootless && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			bail("nsenter: prctl(PR_SET_DUMPABLE)");
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			bail("linux.uidMappings: become root in the new user namespace (is uid/gid 0 mapped?)");
	}

	if (cloneflags & ~CLONE_NEWUSER) {
		if (unshare(cloneflags & ~CLONE_NEWUSER) < 0)
			bail("linux.namespaces: create namespaces (flags 0x%x)", cloneflags & ~CLONE_NEWUSER);
	}
	if (timens)
		write_timens_offsets(timens);

	/*
	 * A new or joined pid or time namespace applies only to children, so
	 * the init proper is a child of this process. CLONE_PARENT makes it a
	 * child of strata itself, which can then wait for it; this process
	 * only reports its pid and leaves.
	 */
	if (must_fork || (cloneflags & (CLONE_NEWPID | CLONE_NEWTIME))) {
		pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (pid < 0)
			bail("nsenter: clone the container init");
		if (pid > 0) {
			len = snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
			send_msg('P', pidbuf, len);
			_exit(0);
		}
		/* The death signal does not survive the clone: set it again. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			bail("nsenter: prctl(PR_SET_PDEATHSIG)");
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			bail("nsenter: prctl(PR_SET_DUMPABLE)");
	} else {
		len = snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
		send_msg('P', pidbuf, len);
	}
	if (has_plan)
		run_plan_from_parent();
}

/*
 * Plan steps that shape the process while it is still privileged: its
 * session and terminal, rlimits and scheduling attributes, working
 * directory, LSM labels and fds (see executor.c).
 */
#define _GNU_SOURCE
#include "executor.h"

void step_setsid(struct executor *x, struct reader *r)
{
	(void)r;
	if (setsid() < 0)
		fail(x, errno, NULL);
}

/* The process's own file, never through a path the container controls. */
int ex_open_in_procfs(struct executor *x, const char *path, int flags)
{
	struct open_how_v0 how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
	};
	if (x->procfd < 0)
		fail(x, 0, "no private procfs (a plan without a procfs step)");
	return syscall(SYS_openat2, x->procfd, path, &how, sizeof(how));
}

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFLNK: return "symlink";
	case S_IFDIR: return "directory";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "special file";
}

/*
 * Binds the pty over /dev/console. The target must be absent or a regular
 * file: were it a symlink the container planted, the bind would land where
 * it points (CVE-2025-52565). Everything goes through fds.
 */
static void bind_console(struct executor *x, int slave)
{
	struct stat st;
	int target, tree;

	target = open("/dev/console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (target < 0 && errno == ENOENT)
		target = open("/dev/console", O_CREAT | O_EXCL | O_NOFOLLOW | O_RDONLY | O_CLOEXEC, 0600);
	if (target < 0)
		fail(x, errno, "/dev/console");
	if (fstat(target, &st) < 0)
		fail(x, errno, "/dev/console");
	if (!S_ISREG(st.st_mode))
		fail(x, 0, "/dev/console: refusing to bind the console over a %s (expected a regular file or nothing)", file_kind(st.st_mode));
	tree = syscall(SYS_open_tree, slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		fail(x, errno, "/dev/console: clone the pty mount");
	if (syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(x, errno, "/dev/console: bind the pty");
	close(tree);
	close(target);
}

/*
 * process.terminal: a pty from the container's own devpts (this process is
 * in its mount namespace), the master sent over the console socket as runc
 * sends it (SCM_RIGHTS, the pty's name as payload), the slave as stdio and
 * controlling terminal.
 */
void step_terminal(struct executor *x, struct reader *r)
{
	int sock = ex_int(r), rows = ex_int(r), cols = ex_int(r), bind = ex_int(r);
	int master, slave, unlock = 0;
	unsigned int n;
	char name[64];
	struct iovec iov;
	struct msghdr msg = { 0 };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct cmsghdr *cm;

	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		fail(x, errno, "open /dev/ptmx");
	/* TIOCGPTN also proves the container's /dev/ptmx is a pty master. */
	if (ioctl(master, TIOCGPTN, &n) < 0)
		fail(x, errno, "/dev/ptmx is not a pty multiplexer");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		fail(x, errno, "unlock pty");
	/* From the master: no path lookup the container could redirect. */
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		fail(x, errno, "open pty slave");
	if (rows || cols) {
		struct winsize ws = { .ws_row = rows, .ws_col = cols };
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0) {
			x->what = "process.consoleSize";
			fail(x, errno, NULL);
		}
	}
	snprintf(name, sizeof(name), "/dev/pts/%u", n);
	iov.iov_base = name;
	iov.iov_len = strlen(name);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	if (sendmsg(sock, &msg, 0) < 0) {
		x->what = "--console-socket";
		fail(x, errno, "send the pty master");
	}
	close(sock);
	close(master);
	for (int fd = 0; fd < 3; fd++)
		if (dup3(slave, fd, 0) < 0)
			fail(x, errno, "pty as stdio");
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		fail(x, errno, "make the pty the controlling terminal");
	if (bind)
		bind_console(x, slave);
	close(slave);
}

void step_rlimit(struct executor *x, struct reader *r)
{
	int res = ex_int(r);
	struct rlimit lim = { .rlim_cur = ex_int(r), .rlim_max = ex_int(r) };
	int keep_hard = ex_int(r);
	if (keep_hard) {
		struct rlimit cur;
		if (getrlimit(res, &cur) < 0)
			fail(x, errno, NULL);
		lim.rlim_max = cur.rlim_max;
	}
	if (setrlimit(res, &lim) < 0)
		fail(x, errno, NULL);
}

/* The kernel's struct sched_attr (sched_setattr(2)), size 56. */
struct sched_attr_v1 {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

void step_sched(struct executor *x, struct reader *r)
{
	struct sched_attr_v1 a = { .size = sizeof(a) };
	a.policy = ex_int(r);
	a.flags = ex_int(r);
	a.nice = (int32_t)ex_int(r);
	a.priority = ex_int(r);
	a.runtime = ex_int(r);
	a.deadline = ex_int(r);
	a.period = ex_int(r);
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		fail(x, errno, NULL);
}

void step_ioprio(struct executor *x, struct reader *r)
{
	const int who_process = 1;
	if (syscall(SYS_ioprio_set, who_process, 0, (int)ex_int(r)) < 0)
		fail(x, errno, NULL);
}

void step_affinity(struct executor *x, struct reader *r)
{
	size_t len;
	char *mask = ex_bytes(r, &len);
	if (sched_setaffinity(0, len, (cpu_set_t *)mask) < 0)
		fail(x, errno, NULL);
}

void step_personality(struct executor *x, struct reader *r)
{
	if (personality((unsigned long)ex_int(r)) < 0)
		fail(x, errno, NULL);
}

void step_mempolicy(struct executor *x, struct reader *r)
{
	int mode = ex_int(r);
	size_t len;
	char *mask = ex_bytes(r, &len);
	if (syscall(SYS_set_mempolicy, mode, len ? mask : NULL, len ? len * 8 : 0) < 0)
		fail(x, errno, NULL);
}

/* Drops from the bounding set what the plan does not keep, while the
 * process still holds CAP_SETPCAP (before the user change); what the host
 * already lacks is left alone. */
void step_cap_bounding(struct executor *x, struct reader *r)
{
	uint64_t keep = ex_int(r);
	int last = ex_int(r);
	char *names = ex_str(r), name[64];
	for (int n = 0; n <= last && n < 64; n++) {
		if (keep & (1ULL << n))
			continue;
		int in = prctl(PR_CAPBSET_READ, n, 0, 0, 0);
		if (in < 0)
			fail(x, errno, "read %s", ex_cap_name(names, n, name, sizeof(name)));
		if (in && prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0)
			fail(x, errno, "%s", ex_cap_name(names, n, name, sizeof(name)));
	}
}

/* chdir, then check that the cwd is inside the container: one reached
 * through a leaked fd would hand the container a host directory
 * (CVE-2024-21626); getcwd answers "(unreachable)/..." outside the root. */
static int enter_cwd(struct executor *x, const char *path)
{
	char buf[4096];
	if (chdir(path) < 0)
		return errno;
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
		fail(x, 0, "resolves outside the container");
	return 0;
}

void step_chdir(struct executor *x, struct reader *r)
{
	char *path = ex_str(r);
	int can_defer = ex_int(r);
	int err = enter_cwd(x, path);
	/* Tried again as the user: a cwd only the user may enter. */
	if (err == EACCES && can_defer)
		x->cwd_pending = 1;
	else if (err)
		fail(x, err, NULL);
}

void step_chdir_deferred(struct executor *x, struct reader *r)
{
	char *path = ex_str(r);
	int err;
	if (!x->cwd_pending)
		return;
	if ((err = enter_cwd(x, path)))
		fail(x, err, NULL);
}

void step_procfs(struct executor *x, struct reader *r)
{
	int fd = (int)ex_int(r);
	if (x->procfd >= 0)
		return;
	if (fd >= 0) {
		x->procfd = fd;
		return;
	}
	/* A procfs of the container's pid namespace, mounted nowhere. */
	x->procfd = ex_detached_mount(x, "proc", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
}

/* A fresh filesystem of fstype, mounted nowhere (the new mount API): its
 * fd, with the mount attributes attrs. */
int ex_detached_mount(struct executor *x, const char *fstype, unsigned int attrs)
{
	int ctx = syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC), fd;
	if (ctx < 0)
		fail(x, errno, "fsopen %s", fstype);
	if (syscall(SYS_fsconfig, ctx, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		fail(x, errno, "create %s", fstype);
	fd = syscall(SYS_fsmount, ctx, FSMOUNT_CLOEXEC, attrs);
	if (fd < 0)
		fail(x, errno, "fsmount %s", fstype);
	close(ctx);
	return fd;
}

static int write_attr(struct executor *x, const char *file, const char *value)
{
	char path[128];
	int fd, err = 0;
	snprintf(path, sizeof(path), "%d/task/%ld/attr/%s", getpid(), (long)syscall(SYS_gettid), file);
	fd = ex_open_in_procfs(x, path, O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, value, strlen(value)) < 0)
		err = errno;
	close(fd);
	return err;
}

/* An LSM label for the next execve, written to this thread's attr file
 * (or the older shared one); enoent is the plan's words for ENOENT. */
void step_lsm_attr(struct executor *x, struct reader *r)
{
	char *file = ex_str(r), *fallback = ex_str(r), *value = ex_str(r), *enoent = ex_str(r);
	int err = write_attr(x, file, value);
	if (err && fallback[0] && write_attr(x, fallback, value) == 0)
		return;
	if (err == ENOENT && enoent[0]) {
		x->what = enoent;
		fail(x, 0, NULL);
	}
	if (err)
		fail(x, err, NULL);
}

void step_close_from(struct executor *x, struct reader *r)
{
	unsigned int first = ex_int(r);
	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		fail(x, errno, NULL);
}

/*
 * The process's uid becomes the owner of its stdio, as runc does (the
 * group is kept: a pty keeps devpts's tty group). Left alone: the
 * caller's /dev/null, and what the kernel will not let this process
 * change: a uid the user namespace does not map (EINVAL), an owner it does
 * not map (EPERM), a read-only /dev (EROFS).
 */
void step_stdio_owner(struct executor *x, struct reader *r)
{
	uid_t uid = ex_int(r);
	struct stat null, st;
	if (stat("/dev/null", &null) < 0)
		null.st_rdev = (dev_t)-1;
	for (int fd = 0; fd < 3; fd++) {
		if (fstat(fd, &st) < 0)
			continue;
		if (st.st_uid == uid || (S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev))
			continue;
		if (fchown(fd, uid, -1) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
			fail(x, errno, "fd %d", fd);
	}
}

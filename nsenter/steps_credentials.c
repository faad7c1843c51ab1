/*
 * Plan steps that change what the process may do: the capability sets,
 * the seccomp filter, the user, no_new_privs, and finding the program as
 * that user (see executor.c).
 */
#define _GNU_SOURCE
#include "executor.h"

static void send_fd(struct executor *x, char type, int fd)
{
	char t = type;
	struct iovec iov = { .iov_base = &t, .iov_len = 1 };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(x->sync, &msg, MSG_NOSIGNAL) < 0)
		fail(x, errno, "send the listener fd to the parent");
}

/* linux.seccomp: single-threaded, so no TSYNC. With a listener, its fd
 * goes to the parent ('S'), which passes it to linux.seccomp.listenerPath. */
void step_seccomp(struct executor *x, struct reader *r)
{
	size_t len;
	char *bpf = ex_bytes(r, &len);
	unsigned long flags = ex_int(r);
	int notify = ex_int(r), fd;
	struct sock_fprog prog = { .len = len / sizeof(struct sock_filter), .filter = (struct sock_filter *)bpf };

	if (len == 0 || len % sizeof(struct sock_filter) || prog.len > BPF_MAXINSNS)
		fail(x, 0, "a filter of %zu bytes", len);
	if (notify)
		flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0)
		fail(x, errno, NULL);
	if (notify) {
		send_fd(x, 'S', fd);
		close(fd);
	}
}

/*
 * process.user: umask, groups, gid, uid, each change needing the privilege
 * the next drops. PR_SET_KEEPCAPS keeps the permitted set across the
 * change to a non-root uid for OP_CAPS; execve resets it.
 */
void step_identity(struct executor *x, struct reader *r)
{
	mode_t umask_ = ex_int(r);
	int setgroups_ = ex_int(r);
	gid_t gid = ex_int(r);
	uid_t uid = ex_int(r);
	gid_t *gids = malloc((r->end - r->p) / 9 * sizeof(gid_t) + 1);
	size_t n = 0;

	if (!gids)
		fail(x, ENOMEM, NULL);
	while (r->p < r->end)
		gids[n++] = ex_int(r);
	umask(umask_);
	if (setgroups_ && setgroups(n, gids) < 0)
		fail(x, errno, "additionalGids: setgroups");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(x, errno, "prctl(PR_SET_KEEPCAPS)");
	if (setresgid(gid, gid, gid) < 0)
		fail(x, errno, "gid %u: setresgid", gid);
	if (setresuid(uid, uid, uid) < 0)
		fail(x, errno, "uid %u: setresuid", uid);
}

/*
 * The effective, permitted and inheritable sets, then the ambient set
 * (raised only once permitted and inheritable). After the user change the
 * effective set is empty, so the permitted set is first made effective:
 * with CAP_SETPCAP effective the final capset may also grant inheritable
 * capabilities outside the permitted set. Inheritable capabilities are only
 * ever what the spec lists (CVE-2022-29162). An ambient capability that
 * cannot be raised is a note, not a failure, as in runc: configs written
 * before that CVE list ambient capabilities without inheritable ones.
 */
void step_caps(struct executor *x, struct reader *r)
{
	uint64_t eff = ex_int(r), perm = ex_int(r), inh = ex_int(r), amb = ex_int(r), held, missing;
	int last = ex_int(r);
	char *names = ex_str(r), name[64];
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct cur[2], want[2];

	if (syscall(SYS_capget, &hdr, cur) < 0)
		fail(x, errno, "capget");
	held = cur[0].permitted | (uint64_t)cur[1].permitted << 32;
	if ((missing = (perm | eff) & ~held)) {
		char list[1024] = "";
		for (int n = 0; n < 64; n++)
			if (missing & (1ULL << n))
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 list[0] ? ", " : "", ex_cap_name(names, n, name, sizeof(name)));
		x->what = "process.capabilities.permitted";
		fail(x, 0, "%s not held by the runtime, cannot be granted", list);
	}
	cur[0].effective = cur[0].permitted;
	cur[1].effective = cur[1].permitted;
	if (syscall(SYS_capset, &hdr, cur) < 0)
		fail(x, errno, "make the permitted set effective");
	want[0].effective = eff;
	want[0].permitted = perm;
	want[0].inheritable = inh;
	want[1].effective = eff >> 32;
	want[1].permitted = perm >> 32;
	want[1].inheritable = inh >> 32;
	if (syscall(SYS_capset, &hdr, want) < 0)
		fail(x, errno, "set effective, permitted and inheritable");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		fail(x, errno, "clear the ambient set");
	for (int n = 0; n <= last && n < 64; n++) {
		if (!(amb & (1ULL << n)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) < 0)
			ex_note(x, "process.capabilities.ambient: cannot raise %s: %s (it must be both permitted and inheritable)",
			     ex_cap_name(names, n, name, sizeof(name)), ex_errstr(errno));
	}
}

void step_no_new_privs(struct executor *x, struct reader *r)
{
	(void)r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(x, errno, NULL);
}

/* 0 if path is an executable file; else the reason, in Go's words (dockerd
 * matches "stat P: no such file or directory" to answer 127, as for runc). */
static int check_executable(const char *path, char *why, size_t size)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(why, size, "stat %s: %s", path, ex_errstr(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(why, size, "is a directory");
		return -1;
	}
	if (access(path, X_OK) < 0) {
		snprintf(why, size, "not executable: %s", ex_errstr(errno));
		return -1;
	}
	return 0;
}

/* The program as execve will find it: a name with a slash as is, else
 * along the process's own PATH, after the user change (X_OK as the user). */
void step_find_program(struct executor *x, struct reader *r)
{
	char *name = ex_str(r), *path = ex_str(r), *shown = strdup(path), why[4200];
	if (strchr(name, '/')) {
		if (check_executable(name, why, sizeof(why)) < 0)
			fail(x, 0, "%s", why);
		x->program = name;
		return;
	}
	for (char *dir = path, *next; dir; dir = next) {
		char *candidate;
		next = strchr(dir, ':');
		if (next)
			*next++ = '\0';
		if (!*dir || !strcmp(dir, "."))
			candidate = strdup(name);
		else if (asprintf(&candidate, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
			candidate = NULL;
		if (!candidate)
			fail(x, ENOMEM, NULL);
		if (check_executable(candidate, why, sizeof(why)) == 0) {
			x->program = candidate;
			return;
		}
		free(candidate);
	}
	fail(x, 0, "executable file not found in $PATH (%s)", shown ? shown : "");
}

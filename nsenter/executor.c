/*
 * The plan executor: makes this process what its plan says, then executes
 * the user's program. No Go runtime runs here: an exec'd process, and a
 * container's init whose plan builds its rootfs too, come straight from
 * nsenter.c (once in their namespaces); an init whose rootfs needed the Go
 * half (libcontainer/plan.Rootfs says when) comes from the exec stage
 * (stage.c).
 *
 * The plan (libcontainer/plan) is a list of steps compiled in Go, where
 * every decision is taken: which step, in which order, with which
 * arguments, and the words for a failure. The executor decides nothing:
 * one function per kind of step (steps_rootfs.c: mounts, /dev, pivot_root,
 * masked and read-only paths, sysctls, hostname; steps_process.c: session,
 * terminal, attributes, cwd, fds; steps_credentials.c: capabilities,
 * seccomp, user, program; steps_sync.c: the protocol with the parent, the
 * created state, hooks, execve), run in order; the first failure goes to
 * the parent as 'E' "<the step's what>[: detail]: <errno>" and the process
 * exits. The sync protocol it speaks is drawn in libcontainer/sync.go.
 */
#define _GNU_SOURCE
#include "executor.h"

static const char *op_names[OP_MAX + 1] = {
	[OP_SETSID] = "setsid", [OP_TERMINAL] = "terminal", [OP_RLIMIT] = "rlimit",
	[OP_SCHED] = "sched", [OP_IO_PRIO] = "ioprio", [OP_AFFINITY] = "affinity",
	[OP_PERSONALITY] = "personality", [OP_MEMPOLICY] = "mempolicy",
	[OP_CAP_BOUNDING] = "cap-bounding", [OP_CHDIR] = "chdir", [OP_PROCFS] = "procfs",
	[OP_LSM_ATTR] = "lsm-attr", [OP_CLOSE_FROM] = "close-from",
	[OP_STDIO_OWNER] = "stdio-owner", [OP_SECCOMP] = "seccomp", [OP_IDENTITY] = "identity",
	[OP_CAPS] = "caps", [OP_NO_NEW_PRIVS] = "no-new-privs",
	[OP_CHDIR_DEFERRED] = "chdir-deferred", [OP_FIND_PROGRAM] = "find-program",
	[OP_CLEAR_DEATH_SIG] = "clear-death-signal", [OP_AWAIT_PLACEMENT] = "await-placement",
	[OP_READY] = "ready", [OP_RELEASE] = "release", [OP_OPEN_FIFO] = "open-fifo",
	[OP_HOOK] = "hook", [OP_WRITE_FIFO] = "write-fifo", [OP_EXEC] = "exec",
	[OP_RUNTIME_HOOKS] = "runtime-hooks", [OP_UMASK] = "umask", [OP_MOUNT_PATH] = "mount-path",
	[OP_OPEN_ROOT] = "open-root", [OP_MOUNT] = "mount", [OP_BIND] = "bind",
	[OP_SET_ATTR] = "set-attr", [OP_MKNOD] = "mknod", [OP_SYMLINK] = "symlink",
	[OP_PIVOT] = "pivot", [OP_MASK] = "mask", [OP_READONLY] = "readonly",
	[OP_STDIO_NULL] = "stdio-null", [OP_WRITE_PROC] = "write-proc",
	[OP_SET_HOSTNAME] = "set-hostname", [OP_SESSION_KEYRING] = "session-keyring",
	[OP_UNSHARE] = "unshare", [OP_CLOSE_ROOT] = "close-root",
	[OP_RECEIVE_TREES] = "receive-trees", [OP_ATTACH_TREE] = "attach-tree",
};

/* ---- reporting ---- */

void ex_send(struct executor *x, char type, const char *payload, size_t len)
{
	char *buf = malloc(len + 1);
	if (!buf)
		_exit(1);
	buf[0] = type;
	memcpy(buf + 1, payload, len);
	/* Nothing useful can be done if this fails: the parent sees EOF. */
	(void)send(x->sync, buf, len + 1, MSG_NOSIGNAL);
	free(buf);
}

/*
 * Reports a failure and exits: "<what>[: detail]: <errno>[ (<eperm hint>)]".
 * err 0 means no errno part. After `create` has returned nobody reads the
 * socket, so the message also goes to stderr then.
 */
void ex_fail_code(struct executor *x, int code, int err, const char *fmt, ...)
{
	char msg[4096];
	int n = snprintf(msg, sizeof(msg), "E%s", x->what ? x->what : "plan");
	if (fmt && n < (int)sizeof(msg)) {
		va_list ap;
		n += snprintf(msg + n, sizeof(msg) - n, ": ");
		va_start(ap, fmt);
		n += vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
		va_end(ap);
	}
	if (err && n < (int)sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - n, ": %s", ex_errstr(err));
	if (err == EPERM && x->eperm && x->eperm[0] && n < (int)sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - n, " (%s)", x->eperm);
	if (n >= (int)sizeof(msg))
		n = sizeof(msg) - 1;
	if (x->sync < 0 || send(x->sync, msg, n, MSG_NOSIGNAL) < 0)
		fprintf(stderr, "strata: %s\n", msg + 1);
	_exit(code);
}


/* Appends s to buf as a JSON string, quoted and escaped; returns the new
 * length, or size when it did not fit. */
static size_t json_string(char *buf, size_t n, size_t size, const char *s)
{
	if (n < size - 1)
		buf[n++] = '"';
	for (; *s && n < size - 8; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = c;
		} else if (c < 0x20) {
			n += snprintf(buf + n, size - n, "\\u%04x", c);
		} else {
			buf[n++] = c;
		}
	}
	if (*s || n >= size - 1)
		return size;
	buf[n++] = '"';
	buf[n] = '\0';
	return n;
}

/* Appends one JSON string to a buffer of JSON array items; one that does
 * not fit is left out. */
static void json_item(char *buf, size_t size, const char *s)
{
	size_t n0 = strlen(buf), n = n0;
	if (n && n < size - 1)
		buf[n++] = ',';
	if (json_string(buf, n, size, s) == size)
		buf[n0] = '\0';
}

void ex_note(struct executor *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_item(x->notes, sizeof(x->notes), msg);
}

/* ---- reading the plan ---- */


static void __attribute__((noreturn)) bad_plan(struct reader *r)
{
	fail(r->x, 0, "malformed plan (strata's parent and init disagree on its format)");
}

uint64_t ex_int(struct reader *r)
{
	uint64_t v;
	if (r->end - r->p < 9 || r->p[0] != 'i')
		bad_plan(r);
	/* Little-endian on the wire and on every architecture strata builds for. */
	memcpy(&v, r->p + 1, 8);
	r->p += 9;
	return v;
}

/* A string argument, copied and NUL-terminated; *len gets its length. */
char *ex_bytes(struct reader *r, size_t *len)
{
	uint32_t n;
	char *s;
	if (r->end - r->p < 5 || r->p[0] != 's')
		bad_plan(r);
	memcpy(&n, r->p + 1, 4);
	if ((size_t)(r->end - r->p - 5) < n)
		bad_plan(r);
	s = malloc(n + 1);
	if (!s)
		bad_plan(r);
	memcpy(s, r->p + 5, n);
	s[n] = '\0';
	r->p += 5 + n;
	if (len)
		*len = n;
	return s;
}

char *ex_str(struct reader *r)
{
	return ex_bytes(r, NULL);
}

/* argc, argc strings, then the rest of the step's strings: argv and envp. */
void ex_argv_envp(struct reader *r, char ***argv, char ***envp)
{
	uint64_t argc = ex_int(r);
	size_t cap = argc + 1, n = 0;
	char **a = calloc(argc + 1, sizeof(char *)), **e;
	if (!a)
		bad_plan(r);
	for (uint64_t i = 0; i < argc; i++)
		a[i] = ex_str(r);
	e = calloc(cap, sizeof(char *));
	while (e && r->p < r->end) {
		if (n + 1 >= cap) {
			cap *= 2;
			e = realloc(e, cap * sizeof(char *));
			if (!e)
				break;
		}
		e[n++] = ex_str(r);
		e[n] = NULL;
	}
	if (!e)
		bad_plan(r);
	*argv = a;
	*envp = e;
}

/* The capability names the plan carries, "CAP_CHOWN,CAP_DAC_OVERRIDE,...". */
const char *ex_cap_name(const char *names, int n, char *buf, size_t size)
{
	const char *p = names;
	for (int i = 0; i < n && p; i++) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!p || !*p) {
		snprintf(buf, size, "capability %d", n);
		return buf;
	}
	size_t len = strcspn(p, ",");
	snprintf(buf, size, "%.*s", (int)len, p);
	return buf;
}

typedef void (*step_fn)(struct executor *, struct reader *);

static const step_fn steps[OP_MAX + 1] = {
	[OP_SETSID] = step_setsid, [OP_TERMINAL] = step_terminal, [OP_RLIMIT] = step_rlimit,
	[OP_SCHED] = step_sched, [OP_IO_PRIO] = step_ioprio, [OP_AFFINITY] = step_affinity,
	[OP_PERSONALITY] = step_personality, [OP_MEMPOLICY] = step_mempolicy,
	[OP_CAP_BOUNDING] = step_cap_bounding, [OP_CHDIR] = step_chdir, [OP_PROCFS] = step_procfs,
	[OP_LSM_ATTR] = step_lsm_attr, [OP_CLOSE_FROM] = step_close_from,
	[OP_STDIO_OWNER] = step_stdio_owner, [OP_SECCOMP] = step_seccomp, [OP_IDENTITY] = step_identity,
	[OP_CAPS] = step_caps, [OP_NO_NEW_PRIVS] = step_no_new_privs,
	[OP_CHDIR_DEFERRED] = step_chdir_deferred, [OP_FIND_PROGRAM] = step_find_program,
	[OP_CLEAR_DEATH_SIG] = step_clear_death_sig, [OP_AWAIT_PLACEMENT] = step_await_placement,
	[OP_READY] = step_ready, [OP_RELEASE] = step_release, [OP_OPEN_FIFO] = step_open_fifo,
	[OP_HOOK] = step_hook, [OP_WRITE_FIFO] = step_write_fifo, [OP_EXEC] = step_exec,
	[OP_RUNTIME_HOOKS] = step_runtime_hooks, [OP_UMASK] = step_umask,
	[OP_MOUNT_PATH] = step_mount_path, [OP_OPEN_ROOT] = step_open_root, [OP_MOUNT] = step_mount,
	[OP_BIND] = step_bind, [OP_SET_ATTR] = step_set_attr, [OP_MKNOD] = step_mknod,
	[OP_SYMLINK] = step_symlink, [OP_PIVOT] = step_pivot, [OP_MASK] = step_mask,
	[OP_READONLY] = step_readonly, [OP_STDIO_NULL] = step_stdio_null,
	[OP_WRITE_PROC] = step_write_proc, [OP_SET_HOSTNAME] = step_set_hostname,
	[OP_SESSION_KEYRING] = step_session_keyring, [OP_UNSHARE] = step_unshare,
	[OP_CLOSE_ROOT] = step_close_root, [OP_RECEIVE_TREES] = step_receive_trees,
	[OP_ATTACH_TREE] = step_attach_tree,
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Records how long a step took; formatted only if the parent asks for the
 * timings (--debug), by ex_timings_json. */
static void record(struct executor *x, int op, int64_t ns)
{
	if (x->ntimed < MAX_TIMED)
		x->timed[x->ntimed++] = (struct timed_step){ op, x->what, ns };
}

/* The steps timed so far as JSON array items, {"phase":...,"d":ns}, each
 * named by its op and by its words where they say more (which mount,
 * which rlimit); malloc'ed. */
char *ex_timings_json(struct executor *x)
{
	char *out = NULL, item[512], phase[400];
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		fail(x, errno, "timings");
	for (int i = 0, written = 0; i < x->ntimed; i++) {
		const struct timed_step *t = &x->timed[i];
		size_t len;
		if (t->what && t->what[0] && strcmp(t->what, op_names[t->op]))
			snprintf(phase, sizeof(phase), "plan: %s (%s)", op_names[t->op], t->what);
		else
			snprintf(phase, sizeof(phase), "plan: %s", op_names[t->op]);
		len = snprintf(item, sizeof(item), "{\"phase\":");
		len = json_string(item, len, sizeof(item), phase);
		/* A phase whose escaped words overflow goes untimed, and the
		 * comma goes only between the items written. */
		if (len < sizeof(item))
			fprintf(f, "%s%s,\"d\":%lld}", written++ ? "," : "", item, (long long)t->ns);
	}
	if (fclose(f) != 0 || !out)
		fail(x, ENOMEM, "timings");
	return out;
}

void strata_run_plan(int syncfd, const unsigned char *plan, size_t len)
{
	struct executor x = { .sync = syncfd, .procfd = -1, .fifofd = -1, .rootfd = -1, .nullfd = -1 };
	struct reader r = { .x = &x, .p = plan, .end = plan + len };

	if (len < 4 || memcmp(plan, "SPL1", 4))
		bad_plan(&r);
	r.p += 4;
	while (r.p < r.end) {
		uint8_t op;
		uint32_t n;
		struct reader args = { .x = &x };
		int64_t t0 = now_ns();

		if (r.end - r.p < 5)
			bad_plan(&r);
		op = r.p[0];
		memcpy(&n, r.p + 1, 4);
		r.p += 5;
		if ((size_t)(r.end - r.p) < n || op == 0 || op > OP_MAX || !steps[op])
			bad_plan(&r);
		args.p = r.p;
		args.end = r.p + n;
		r.p += n;
		x.what = ex_str(&args);
		x.eperm = ex_str(&args);
		steps[op](&x, &args);
		record(&x, op, now_ns() - t0);
	}
	fail(&x, 0, "plan ended without exec");
}

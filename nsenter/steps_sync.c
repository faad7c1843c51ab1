/*
 * Plan steps that speak with the parent and wait: placement in the
 * cgroups, ready and release, the created state (exec fifo),
 * startContainer hooks, and execve (see executor.c).
 */
#define _GNU_SOURCE
#include "executor.h"

void step_clear_death_sig(struct executor *x, struct reader *r)
{
	(void)r;
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
		fail(x, errno, NULL);
}

/* One message from the parent: its type; its payload (NUL-terminated) in
 * buf. EOF means the parent is gone: nothing to report to. */
static char recv_msg(struct executor *x, char *buf, size_t size)
{
	ssize_t n = recv(x->sync, buf, size - 1, 0);
	if (n == 0)
		_exit(1);
	if (n < 0)
		fail(x, errno, "sync");
	buf[n] = '\0';
	return buf[0];
}

/* The parent moves the process into the container's cgroups ('G'), or
 * says why it could not ('X'). */
void step_await_placement(struct executor *x, struct reader *r)
{
	char buf[4096];
	(void)r;
	switch (recv_msg(x, buf, sizeof(buf))) {
	case 'G':
		return;
	case 'X':
		fail(x, 0, "%s", buf + 1);
	}
	fail(x, 0, "sync: got message '%c', expected 'G'", buf[0]);
}

/* The prestart and createRuntime hooks run in the runtime's namespaces:
 * the parent runs them ('H') once the mounts are made, and says when they
 * are done ('h'); a failed hook ends this process from there. */
void step_runtime_hooks(struct executor *x, struct reader *r)
{
	char buf[64];
	(void)r;
	ex_send(x, 'H', "", 0);
	if (recv_msg(x, buf, sizeof(buf)) != 'h')
		fail(x, 0, "sync: got message '%c', expected 'h'", buf[0]);
}

/* 'R' with the notes, and the steps' timings when the parent asks for
 * them (--debug): formatting them is work every container would pay. */
void step_ready(struct executor *x, struct reader *r)
{
	char *msg, *timings = ex_int(r) ? ex_timings_json(x) : NULL;
	int n;
	n = asprintf(&msg, "{\"timings\":[%s],\"notes\":[%s]}", timings ? timings : "", x->notes);
	if (n < 0)
		fail(x, ENOMEM, NULL);
	ex_send(x, 'R', msg, n);
	free(msg);
	free(timings);
}

/* The parent has the container on record ('A'): the death signal that
 * guarded the half-made container goes, and the parent may exit ('K'). */
void step_release(struct executor *x, struct reader *r)
{
	char buf[64];
	(void)r;
	if (recv_msg(x, buf, sizeof(buf)) != 'A')
		fail(x, 0, "sync: got message '%c', expected 'A'", buf[0]);
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
		fail(x, errno, "clear the parent death signal");
	ex_send(x, 'K', "", 0);
}

/* The created state: opening the fifo for writing blocks until `start`
 * opens it for reading. Through the private procfs, as the container's
 * /proc may be anything by now. */
void step_open_fifo(struct executor *x, struct reader *r)
{
	int pathfd = ex_int(r);
	char path[64];
	snprintf(path, sizeof(path), "%d/fd/%d", getpid(), pathfd);
	if (x->procfd < 0)
		fail(x, 0, "no private procfs");
	x->fifofd = openat(x->procfd, path, O_WRONLY | O_CLOEXEC);
	if (x->fifofd < 0)
		fail(x, errno, "%s", path);
	close(pathfd);
}

/* The hook's output, its last 4 KiB trimmed, for the error message. */
static const char *output_tail(int fd, char *buf, size_t size)
{
	off_t end = lseek(fd, 0, SEEK_END), off = end > (off_t)size - 1 ? end - (off_t)size + 1 : 0;
	ssize_t n = pread(fd, buf, end - off, off);
	char *s = buf;
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	while (*s == '\n' || *s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * A startContainer hook: its own process group (a timeout kills the
 * group), the state JSON on stdin, stdout and stderr to a memfd whose
 * tail goes into the error. An execve failure comes back on a pipe.
 */
void step_hook(struct executor *x, struct reader *r)
{
	int timeout = ex_int(r), in[2], errp[2], out, pidfd, status, err = 0;
	size_t statelen;
	char *state = ex_bytes(r, &statelen), *path = ex_str(r), **argv, **envp, tail[4097];
	struct pollfd pfd;
	pid_t pid;

	ex_argv_envp(r, &argv, &envp);
	out = memfd_create("strata-hook-output", MFD_CLOEXEC);
	if (out < 0 || pipe2(in, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		fail(x, errno, "set up");
	pid = fork();
	if (pid < 0)
		fail(x, errno, "fork");
	if (pid == 0) {
		setpgid(0, 0);
		if (dup2(in[0], 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execve(path, argv, envp);
		err = errno;
		(void)write(errp[1], &err, sizeof(err));
		_exit(127);
	}
	close(in[0]);
	close(errp[1]);
	/* A hook that exits without reading its stdin must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	(void)write(in[1], state, statelen);
	close(in[1]);
	signal(SIGPIPE, SIG_DFL);
	if (read(errp[0], &err, sizeof(err)) == sizeof(err)) {
		waitpid(pid, &status, 0);
		fail(x, err, "fork/exec %s", path);
	}
	close(errp[0]);
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		fail(x, errno, "pidfd_open");
	pfd.fd = pidfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout > 0 ? timeout * 1000 : -1) == 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail(x, 0, "timed out after %ds", timeout);
	}
	close(pidfd);
	if (waitpid(pid, &status, 0) < 0)
		fail(x, errno, "wait");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	const char *t = output_tail(out, tail, sizeof(tail));
	if (WIFSIGNALED(status))
		fail(x, 0, "signal: %s%s%s", ex_signame(WTERMSIG(status)), t[0] ? ": " : "", t);
	fail(x, 0, "exit status %d%s%s", WEXITSTATUS(status), t[0] ? ": " : "", t);
}

void step_write_fifo(struct executor *x, struct reader *r)
{
	(void)r;
	if (x->fifofd < 0)
		fail(x, 0, "the fifo is not open");
	/* The fifo's write end stays open until execve closes it: `start`
	 * reads that as "the program runs", then runs the poststart hooks. */
	if (write(x->fifofd, "", 1) != 1)
		fail(x, errno, NULL);
}

/* An ignored signal stays ignored across execve, and a shell cannot trap
 * one that was ignored when it started (POSIX): a strata run under nohup
 * would give the container's program SIGHUP ignored, and a caller's
 * blocked signals would stay blocked. So the program starts with every
 * disposition at its default and nothing blocked, as under crun and runc.
 * sigaction fails, harmlessly, for SIGKILL, SIGSTOP and libc's own. */
static void reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void step_exec(struct executor *x, struct reader *r)
{
	char **argv, **envp;
	ex_argv_envp(r, &argv, &envp);
	if (!x->program)
		fail(x, 0, "no program found (a plan without find-program)");
	reset_signals();
	/* The sync socket is close-on-exec: `run` reads its end of file as
	 * success. */
	execve(x->program, argv, envp);
	ex_fail_code(x, 127, errno, "%s", x->program);
}

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "catch.h"

/* The write end of the pipe the caught signals go into: set once, before
 * the first handler is installed, and never changed. */
static int relay_fd = -1;

/* Runs on whichever thread the kernel picked, in the middle of anything:
 * only write(2), which is async-signal-safe, and errno kept as found. The
 * pipe is non-blocking: a signal that finds it full (64 KiB of them unread)
 * is dropped rather than stalling the thread it interrupted. */
static void relay_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t n = write(relay_fd, &b, 1);
	(void)n;
	errno = saved;
}

int sigrelay_catch(int fd, const int *sigs, int n)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = relay_signal;
	/* SA_ONSTACK: a Go thread may be on a small goroutine stack; the
	 * runtime gives every thread an alternate signal stack. SA_RESTART,
	 * as the Go runtime's own handlers. */
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	relay_fd = fd;
	for (int i = 0; i < n; i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return errno;
	return 0;
}

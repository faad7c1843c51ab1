/*
 * Go's words for an errno or a signal, for every message the C side sends
 * the parent or prints. Not the libc's strerror or strsignal: musl's words
 * differ from glibc's ("Symbolic link loop", "Too many levels of symbolic
 * links"), and the engines and the tests match Go's ("no such file or
 * directory", "killed"), as they did when Go set the process up. The table
 * is spelling.h, generated from Go's syscall package (spelling_test.go).
 */
#include <stdio.h>

#include "plan.h"
#include "spelling.h"

/* names[n], or "<kind> <n>" for a number Go has no word for. */
static const char *word(const char *const *names, size_t count, int n, const char *kind)
{
	static char unnamed[32];

	if (n > 0 && (size_t)n < count && names[n])
		return names[n];
	snprintf(unnamed, sizeof(unnamed), "%s %d", kind, n);
	return unnamed;
}

const char *ex_errstr(int err)
{
	return word(go_errno, sizeof(go_errno) / sizeof(go_errno[0]), err, "errno");
}

const char *ex_signame(int sig)
{
	return word(go_signal, sizeof(go_signal) / sizeof(go_signal[0]), sig, "signal");
}

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

const char *ex_errstr(int err)
{
	static char unnamed[32];

	if (err > 0 && err < (int)(sizeof(go_errno) / sizeof(go_errno[0])) && go_errno[err])
		return go_errno[err];
	snprintf(unnamed, sizeof(unnamed), "errno %d", err);
	return unnamed;
}

const char *ex_signame(int sig)
{
	static char unnamed[32];

	if (sig > 0 && sig < (int)(sizeof(go_signal) / sizeof(go_signal[0])) && go_signal[sig])
		return go_signal[sig];
	snprintf(unnamed, sizeof(unnamed), "signal %d", sig);
	return unnamed;
}

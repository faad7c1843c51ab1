/*
 * The last stage of a container init whose rootfs its Go half built (a spec
 * the plan's rootfs steps cannot express: libcontainer/plan.Rootfs says
 * which; every other init runs its whole plan from nsenter.c). The Go half
 * executes strata again, from the sealed binary, with
 *
 *   _STRATA_EXEC=<sync fd>,<plan fd>
 *
 * and this stage runs from the ELF constructor, before the Go runtime would
 * start: the plan (a memfd the Go half compiled with libcontainer/plan)
 * gives the process its attributes, reports ready, waits in the created
 * state and executes the user's program. The process waiting in the created
 * state is therefore this small C code (a couple of MB resident, like crun),
 * not a Go runtime that has parsed the spec and mounted the rootfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "plan.h"

void strata_exec_stage(const char *spec)
{
	int syncfd, planfd;
	off_t size;
	unsigned char *plan;

	if (sscanf(spec, "%d,%d", &syncfd, &planfd) != 2) {
		fprintf(stderr, "strata: bad _STRATA_EXEC %s\n", spec);
		_exit(1);
	}
	/* execve made the process dumpable again; nothing may attach to it. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "strata: prctl(PR_SET_DUMPABLE): %s\n", ex_errstr(errno));
		_exit(1);
	}
	size = lseek(planfd, 0, SEEK_END);
	plan = size > 0 ? malloc(size) : NULL;
	if (!plan || pread(planfd, plan, size, 0) != size) {
		fprintf(stderr, "strata: read the plan: %s\n", ex_errstr(errno));
		_exit(1);
	}
	close(planfd);
	strata_run_plan(syncfd, plan, size);
}

/*
 * The plan executor's operations: the numbers of libcontainer/plan's Op
 * constants (libcontainer/plan/header_test.go checks that the two agree,
 * name, number and the name in the comment, which is how --debug timings
 * name each step).
 */
#ifndef STRATA_PLAN_H
#define STRATA_PLAN_H

#define OP_SETSID 1           /* setsid */
#define OP_TERMINAL 2         /* terminal */
#define OP_RLIMIT 3           /* rlimit */
#define OP_SCHED 4            /* sched */
#define OP_IO_PRIO 5          /* ioprio */
#define OP_AFFINITY 6         /* affinity */
#define OP_PERSONALITY 7      /* personality */
#define OP_MEMPOLICY 8        /* mempolicy */
#define OP_CAP_BOUNDING 9     /* cap-bounding */
#define OP_CHDIR 10           /* chdir */
#define OP_PROCFS 11          /* procfs */
#define OP_LSM_ATTR 12        /* lsm-attr */
#define OP_CLOSE_FROM 13      /* close-from */
#define OP_STDIO_OWNER 14     /* stdio-owner */
#define OP_SECCOMP 15         /* seccomp */
#define OP_IDENTITY 16        /* identity */
#define OP_CAPS 17            /* caps */
#define OP_NO_NEW_PRIVS 18    /* no-new-privs */
#define OP_CHDIR_DEFERRED 19  /* chdir-deferred */
#define OP_FIND_PROGRAM 20    /* find-program */
#define OP_CLEAR_DEATH_SIG 21 /* clear-death-signal */
#define OP_AWAIT_PLACEMENT 22 /* await-placement */
#define OP_READY 23           /* ready */
#define OP_RELEASE 24         /* release */
#define OP_OPEN_FIFO 25       /* open-fifo */
#define OP_HOOK 26            /* hook */
#define OP_WRITE_FIFO 27      /* write-fifo */
#define OP_EXEC 28            /* exec */
#define OP_RUNTIME_HOOKS 29   /* runtime-hooks */
#define OP_UMASK 30           /* umask */
#define OP_MOUNT_PATH 31      /* mount-path */
#define OP_OPEN_ROOT 32       /* open-root */
#define OP_MOUNT 33           /* mount */
#define OP_BIND 34            /* bind */
#define OP_SET_ATTR 35        /* set-attr */
#define OP_MKNOD 36           /* mknod */
#define OP_SYMLINK 37         /* symlink */
#define OP_PIVOT 38           /* pivot */
#define OP_MASK 39            /* mask */
#define OP_READONLY 40        /* readonly */
#define OP_STDIO_NULL 41      /* stdio-null */
#define OP_WRITE_PROC 42      /* write-proc */
#define OP_SET_HOSTNAME 43    /* set-hostname */
#define OP_SESSION_KEYRING 44 /* session-keyring */
#define OP_UNSHARE 45         /* unshare */
#define OP_CLOSE_ROOT 46      /* close-root */
#define OP_RECEIVE_TREES 47   /* receive-trees */
#define OP_ATTACH_TREE 48     /* attach-tree */
#define OP_MAX 48

/* Go's words for an errno or a signal (spelling.c). */
const char *ex_errstr(int err);
const char *ex_signame(int sig);

/* Runs the plan (wire format: libcontainer/plan/plan.go); never returns. */
void strata_run_plan(int syncfd, const unsigned char *plan, size_t len) __attribute__((noreturn));

#endif

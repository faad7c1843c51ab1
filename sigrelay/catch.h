#ifndef STRATA_SIGRELAY_CATCH_H
#define STRATA_SIGRELAY_CATCH_H

/* sigrelay_catch installs a handler for each of the n signals in sigs that
 * writes the signal's number, one byte, to fd. It returns 0, or the errno
 * of the sigaction that failed. */
int sigrelay_catch(int fd, const int *sigs, int n);

#endif

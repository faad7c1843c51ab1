/*
 * Debian's libseccomp.a is compiled against glibc with _FORTIFY_SOURCE, so
 * its error printing calls glibc's checked fprintf. musl has no _chk
 * functions; this one does what glibc's does once the check (at flag > 0,
 * a %n in a writable format) is left out: libseccomp's formats are
 * constants.
 */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}

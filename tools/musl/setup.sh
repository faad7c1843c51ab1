#!/usr/bin/env bash
# Makes DIR the root `make strata` builds against with musl-gcc (see the
# Makefile's CGO_ENV): musl's headers lack the kernel's UAPI ones (linux/,
# asm/, asm-generic/) that nsenter includes, and Debian ships libseccomp for
# glibc only. DIR gets links to those headers and to seccomp.h, a
# libseccomp.pc that links Debian's static libseccomp.a, and fortify.c's
# archive for the one glibc symbol that archive needs. Idempotent.
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)

command -v musl-gcc >/dev/null || {
	echo "musl-gcc not found: strata links musl (apt-get install musl-tools)" >&2
	exit 1
}
libdir=$(pkg-config --variable=libdir libseccomp) || {
	echo "libseccomp not found by pkg-config (apt-get install libseccomp-dev)" >&2
	exit 1
}
incdir=$(pkg-config --variable=includedir libseccomp)
[ -f "$libdir/libseccomp.a" ] || { echo "no $libdir/libseccomp.a (libseccomp-dev)" >&2; exit 1; }
multiarch=$(gcc -print-multiarch)

mkdir -p "$dir/include"
for h in /usr/include/linux /usr/include/asm-generic "/usr/include/$multiarch/asm" \
	"$incdir/seccomp.h" "$incdir/seccomp-syscalls.h"; do
	ln -sfn "$h" "$dir/include/$(basename "$h")"
done
# Compiled again only when fortify.c is newer: most builds just link it.
if ! [ "$dir/libfortify.a" -nt "$here/fortify.c" ]; then
	musl-gcc -O2 -Wall -Werror -c "$here/fortify.c" -o "$dir/fortify.o"
	rm -f "$dir/libfortify.a"
	ar rcs "$dir/libfortify.a" "$dir/fortify.o"
fi
cat >"$dir/libseccomp.pc" <<PC
Name: libseccomp
Description: Debian's static libseccomp, linked into a musl build of strata
Version: $(pkg-config --modversion libseccomp)
Cflags: -I$dir/include
Libs: $libdir/libseccomp.a $dir/libfortify.a
PC

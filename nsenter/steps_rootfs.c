/*
 * Plan steps that build the container's root filesystem, in the init, in
 * its new mount namespace (see executor.c): mounts, device nodes, the
 * change of root, masked and read-only paths, and the namespaces' kernel
 * state (sysctls, hostname, keyring). libcontainer/plan/rootfs.go decides
 * every one of them; these functions only carry them out.
 *
 * Every destination is resolved beneath the root the last open-root step
 * opened, never through a symlink out of it, and every mount is made on an
 * O_PATH fd (through /proc/self/fd/N or move_mount), never on a path
 * string: a path checked and then mounted on can be swapped for a symlink
 * in between by a process sharing the rootfs (CVE-2021-30465).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include "executor.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x01
#endif
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define MAX_SYMLINKS 40

struct mount_attr_v0 {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* The kinds of target a mount step asks for (plan.Target*). */
enum { TARGET_DIR, TARGET_PLAIN_DIR, TARGET_EXISTING };

static int open_in_root(int dir, const char *path, int flags)
{
	struct open_how_v0 how = {
		.flags = flags | O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do /* openat2 asks for a retry when a rename raced the lookup */
		fd = syscall(SYS_openat2, dir, path, &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd;
}

static const char *fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
	return buf;
}

/*
 * dest with the rootfs's symlinks followed as if the rootfs were "/", as a
 * path relative to it (no leading slash). Only a hint for creating what is
 * missing: every component is opened again without following symlinks
 * (mkdir_all), so a swap after this cannot lead out of the root.
 */
static void resolve_hint(struct executor *x, const char *dest, char *out, size_t size)
{
	char rest[2 * PATH_MAX], link[PATH_MAX], cand[PATH_MAX], tmp[2 * PATH_MAX];
	const char *p;
	int links = 0;

	snprintf(rest, sizeof(rest), "%s", dest);
	out[0] = '\0';
	p = rest;
	while (*p) {
		const char *end;
		size_t len;
		ssize_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchrnul(p, '/');
		len = end - p;
		if (len == 1 && p[0] == '.') {
			p = end;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(out, '/');
			if (slash)
				*slash = '\0';
			else
				out[0] = '\0';
			p = end;
			continue;
		}
		if (snprintf(cand, sizeof(cand), "%s%s%.*s", out, out[0] ? "/" : "", (int)len, p) >= (int)sizeof(cand))
			fail(x, ENAMETOOLONG, "%s", dest);
		n = readlinkat(x->rootfd, cand, link, sizeof(link) - 1);
		if (n < 0) {
			/* Not a symlink, or missing (it will be created). */
			snprintf(out, size, "%s", cand);
			p = end;
			continue;
		}
		if (++links > MAX_SYMLINKS)
			fail(x, ELOOP, "%s", dest);
		link[n] = '\0';
		if (link[0] == '/')
			out[0] = '\0';
		if (snprintf(tmp, sizeof(tmp), "%s%s", link, end) >= (int)sizeof(tmp))
			fail(x, ENAMETOOLONG, "%s", dest);
		memcpy(rest, tmp, strlen(tmp) + 1);
		p = rest;
	}
}

/* Opens (creating with mode 0755 what is missing) each directory of rel,
 * a resolve_hint result, without following a symlink: returns an O_PATH fd
 * on the last. */
static int mkdir_all(struct executor *x, const char *rel, const char *what)
{
	char comp[NAME_MAX + 1];
	const char *p = rel;
	int cur = dup(x->rootfd);

	if (cur < 0)
		fail(x, errno, "%s", what);
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = end - p;
		int fd;

		if (len > NAME_MAX)
			fail(x, ENAMETOOLONG, "%s: %.*s", what, (int)len, p);
		if (len == 0) {
			p = *end ? end + 1 : end;
			continue;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
				fail(x, errno, "%s", what);
			fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0)
			fail(x, errno, "%s: %s", what, comp);
		close(cur);
		cur = fd;
		p = *end ? end + 1 : end;
	}
	return cur;
}

static void split_base(const char *rel, char *dir, size_t size, const char **base)
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		dir[0] = '\0';
		*base = rel;
		return;
	}
	snprintf(dir, size, "%.*s", (int)(slash - rel), rel);
	*base = slash + 1;
}

/*
 * The usual directory targets without the walk: one that is there is one
 * openat2, which the kernel confines to the rootfs (RESOLVE_IN_ROOT); one
 * whose parent is there and only the last name missing (a mount point on a
 * tmpfs the plan has just mounted) is three syscalls more. The walk costs
 * a readlinkat and an openat per component: 67 syscalls for the default
 * mounts (strace). Anything else (names missing higher up, a dangling
 * symlink, a race) returns -1 and takes the walk, which gives the errors.
 */
static int quick_dir_target(struct executor *x, const char *dest)
{
	char dir[PATH_MAX];
	const char *base;
	int parent, fd = open_in_root(x->rootfd, dest, O_DIRECTORY);

	if (fd >= 0 || errno != ENOENT || strlen(dest) >= sizeof(dir))
		return fd >= 0 ? fd : -1;
	split_base(dest, dir, sizeof(dir), &base);
	if (!base[0] || !strcmp(base, ".") || !strcmp(base, ".."))
		return -1;
	parent = open_in_root(x->rootfd, dir[0] ? dir : "/", O_DIRECTORY);
	if (parent < 0)
		return -1;
	fd = -1;
	/* mkdirat never follows a symlink at base: EEXIST (a dangling one)
	 * is the walk's to resolve. */
	if (mkdirat(parent, base, 0755) == 0)
		fd = openat(parent, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(parent);
	return fd;
}

static int dir_target(struct executor *x, const char *dest)
{
	char rel[PATH_MAX];
	int fd = quick_dir_target(x, dest);

	if (fd >= 0)
		return fd;
	resolve_hint(x, dest, rel, sizeof(rel));
	return mkdir_all(x, rel, "create directory");
}

/* A non-directory mount's target (a bind-mounted file or device): an empty
 * regular file is made if nothing is there. */
static int file_target(struct executor *x, const char *dest)
{
	char rel[PATH_MAX], dir[PATH_MAX];
	const char *base;
	int parent, fd = open_in_root(x->rootfd, dest, 0);

	if (fd >= 0) /* there already, found as quick_dir_target finds one */
		return fd;
	resolve_hint(x, dest, rel, sizeof(rel));
	split_base(rel, dir, sizeof(dir), &base);
	parent = mkdir_all(x, dir, "create parent directory");
	/* mknodat never follows a symlink at base; EEXIST means something is
	 * there already, and the mount decides whether it fits. */
	if (mknodat(parent, base, S_IFREG | 0644, 0) < 0 && errno != EEXIST)
		fail(x, errno, "create file");
	fd = open_in_root(parent, base, 0);
	if (fd < 0)
		fail(x, errno, "open %s", base);
	close(parent);
	return fd;
}

/*
 * proc and sysfs go on a real directory only: mounted where a
 * container-made symlink points, they would land wherever the container
 * chose, and the masked and read-only paths would protect the wrong place
 * (CVE-2019-19921, CVE-2019-16884). The fd is opened without following a
 * last symlink, so one swapped in after the check is refused too.
 */
static int plain_dir_target(struct executor *x, const char *dest)
{
	struct stat st;
	int fd = open_in_root(x->rootfd, dest, O_NOFOLLOW);

	if (fd < 0 && errno != ENOENT)
		fail(x, errno, "open %s", dest);
	if (fd < 0) {
		close(dir_target(x, dest));
	} else {
		if (fstat(fd, &st) < 0)
			fail(x, errno, "stat");
		close(fd);
		if (S_ISLNK(st.st_mode))
			fail(x, 0, "target is a symlink in the rootfs");
		if (!S_ISDIR(st.st_mode))
			fail(x, 0, "target is not a directory in the rootfs");
	}
	fd = open_in_root(x->rootfd, dest, O_NOFOLLOW | O_DIRECTORY);
	if (fd < 0 && errno == ENOTDIR)
		fail(x, 0, "target is not a directory (or became a symlink) in the rootfs");
	if (fd < 0)
		fail(x, errno, "open %s", dest);
	return fd;
}

static int existing_target(struct executor *x, const char *dest)
{
	int fd = open_in_root(x->rootfd, dest, 0);
	if (fd < 0)
		fail(x, errno, "open %s", dest);
	return fd;
}

static int target(struct executor *x, int kind, const char *dest)
{
	switch (kind) {
	case TARGET_DIR: return dir_target(x, dest);
	case TARGET_PLAIN_DIR: return plain_dir_target(x, dest);
	}
	return existing_target(x, dest);
}

void step_umask(struct executor *x, struct reader *r)
{
	(void)x;
	umask((mode_t)ex_int(r));
}

/* mount(2) on a path the runtime chose: "/" or the rootfs itself. */
void step_mount_path(struct executor *x, struct reader *r)
{
	char *source = ex_str(r), *dest = ex_str(r), *fstype = ex_str(r);
	unsigned long flags = ex_int(r);
	char *data = ex_str(r);
	if (mount(source[0] ? source : NULL, dest, fstype[0] ? fstype : NULL, flags, data[0] ? data : NULL) < 0)
		fail(x, errno, NULL);
}

/* The root every later path is resolved beneath. */
void step_open_root(struct executor *x, struct reader *r)
{
	char *path = ex_str(r);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail(x, errno, NULL);
	if (x->rootfd >= 0)
		close(x->rootfd);
	x->rootfd = fd;
}

/*
 * A bind mount: the source tree copied with open_tree and its flags set
 * while it is detached, so it appears in the container already read-only
 * (no window where a classic bind is writable before its remount), and a
 * user namespace need not repeat the flags the kernel locked on the source.
 * dest is resolved by the tree's type unless fd, the target, is given (>= 0).
 */
static void bind_tree(struct executor *x, const char *source, int recursive, struct mount_attr_v0 *attr,
		      struct mount_attr_v0 *rec, const char *dest, int fd)
{
	int tree = syscall(SYS_open_tree, AT_FDCWD, source,
			   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	struct stat st;

	if (tree < 0)
		fail(x, errno, "bind source \"%s\"", source);
	if ((attr->attr_set || attr->attr_clr) &&
	    syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, attr, sizeof(*attr)) < 0)
		fail(x, errno, "set mount flags");
	if ((rec->attr_set || rec->attr_clr) &&
	    syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, rec, sizeof(*rec)) < 0)
		fail(x, errno, "set recursive mount attributes");
	if (fd < 0) {
		if (fstat(tree, &st) < 0)
			fail(x, errno, "stat the bind source");
		fd = S_ISDIR(st.st_mode) ? dir_target(x, dest) : file_target(x, dest);
	}
	if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(x, errno, "move_mount");
	close(fd);
	close(tree);
}

/* Reopens an O_PATH directory fd for reading its entries: the
 * /proc/self/fd link leads to exactly the fd's directory. */
static int reopen_dir(struct executor *x, int fd)
{
	char buf[64];
	int dir = open(fd_path(fd, buf, sizeof(buf)), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		fail(x, errno, "tmpcopyup: reopen");
	return dir;
}

static void copy_tree(struct executor *x, int src, int dst, const char *path);

static void copy_file(struct executor *x, int src, int dst, const char *name, mode_t perm, const char *path)
{
	char buf[65536];
	ssize_t n;
	/* O_NONBLOCK: a fifo swapped in after the fstatat must not hang us. */
	int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), d;

	if (s < 0)
		fail(x, errno, "tmpcopyup: %s", path);
	d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm);
	if (d < 0)
		fail(x, errno, "tmpcopyup: %s", path);
	while ((n = read(s, buf, sizeof(buf))) > 0)
		if (write(d, buf, n) != n)
			fail(x, errno, "tmpcopyup: %s", path);
	if (n < 0)
		fail(x, errno, "tmpcopyup: %s", path);
	close(s);
	close(d);
}

/* One entry of the covered directory, with its mode and owner. The tree is
 * the image's: symlinks are copied as links, never followed; sockets mean
 * nothing in a copy. */
static void copy_entry(struct executor *x, int src, int dst, const char *name, const char *parent)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct stat st;
	mode_t perm;
	ssize_t n;

	snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "/" : "", name);
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail(x, errno, "tmpcopyup: %s", path);
	perm = st.st_mode & 07777;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR: {
		int s, d;
		if (mkdirat(dst, name, perm) < 0)
			fail(x, errno, "tmpcopyup: %s", path);
		s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || d < 0)
			fail(x, errno, "tmpcopyup: %s", path);
		copy_tree(x, s, d, path);
		close(d);
		break;
	}
	case S_IFREG:
		copy_file(x, src, dst, name, perm, path);
		break;
	case S_IFLNK:
		n = readlinkat(src, name, link, sizeof(link) - 1);
		if (n < 0)
			fail(x, errno, "tmpcopyup: %s", path);
		link[n] = '\0';
		if (symlinkat(link, dst, name) < 0)
			fail(x, errno, "tmpcopyup: %s", path);
		break;
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
		if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0)
			fail(x, errno, "tmpcopyup: %s", path);
		break;
	default:
		return;
	}
	if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		fail(x, errno, "tmpcopyup: %s: chown", path);
	/* chown clears set-id bits: the mode goes back after it. A link's
	 * mode means nothing and cannot be set. */
	if (!S_ISLNK(st.st_mode) && fchmodat(dst, name, perm, 0) < 0)
		fail(x, errno, "tmpcopyup: %s: chmod", path);
}

/* Copies the entries of src into dst; takes src (closes it). */
static void copy_tree(struct executor *x, int src, int dst, const char *path)
{
	DIR *d = fdopendir(src);
	struct dirent *e;

	if (!d)
		fail(x, errno, "tmpcopyup: %s", path[0] ? path : ".");
	while ((errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		copy_entry(x, dirfd(d), dst, e->d_name, path);
	}
	if (errno)
		fail(x, errno, "tmpcopyup: %s", path[0] ? path : ".");
	closedir(d);
}

/*
 * tmpcopyup (a runc extension podman uses): the fresh tmpfs gets what the
 * directory it covers held, and that directory's mode and owner. under is
 * the covered directory's fd, which still reaches its own entries (lookups
 * from it do not cross the mount above it).
 */
static void copy_up(struct executor *x, int under, const char *dest)
{
	int top = existing_target(x, dest), src = reopen_dir(x, under), dst = reopen_dir(x, top);
	struct stat st;

	if (fstat(src, &st) < 0 || fchmod(dst, st.st_mode & 07777) < 0 || fchown(dst, st.st_uid, st.st_gid) < 0)
		fail(x, errno, "tmpcopyup");
	copy_tree(x, src, dst, "");
	close(dst);
	close(top);
}

/*
 * A fresh filesystem (proc, tmpfs, devpts...), or a remount of the one at
 * the destination, through the target's fd. Where a user namespace may not
 * mount a fresh instance (EPERM), the plan names a host directory to bind
 * instead, with the mount's flags as attributes.
 */
void step_mount(struct executor *x, struct reader *r)
{
	char *dest = ex_str(r), *source, *fstype, *data, *fallback, buf[64];
	int kind = ex_int(r), fd, copyup;
	unsigned long flags;
	struct mount_attr_v0 attr = { 0 }, none = { 0 };

	source = ex_str(r);
	fstype = ex_str(r);
	flags = ex_int(r);
	data = ex_str(r);
	fallback = ex_str(r);
	attr.attr_set = ex_int(r);
	attr.attr_clr = ex_int(r);
	copyup = ex_int(r);
	fd = target(x, kind, dest);
	if (mount(source[0] ? source : NULL, fd_path(fd, buf, sizeof(buf)), fstype[0] ? fstype : NULL, flags,
		  data[0] ? data : NULL) == 0) {
		if (copyup)
			copy_up(x, fd, dest);
		close(fd);
		return;
	}
	if (errno == EPERM && fallback[0]) {
		bind_tree(x, fallback, 1, &attr, &none, dest, fd);
		return;
	}
	if (kind == TARGET_EXISTING)
		fail(x, errno, "remount");
	fail(x, errno, "mount %s", fstype);
}

/* A bind mount of a host path. */
void step_bind(struct executor *x, struct reader *r)
{
	char *source = ex_str(r);
	int recursive = ex_int(r);
	struct mount_attr_v0 attr = { 0 }, rec = { 0 };

	attr.attr_set = ex_int(r);
	attr.attr_clr = ex_int(r);
	rec.attr_set = ex_int(r);
	rec.attr_clr = ex_int(r);
	bind_tree(x, source, recursive, &attr, &rec, ex_str(r), -1);
}

/* Mount attributes, then propagation changes (one mount(2) each), on the
 * mount at the destination. */
void step_set_attr(struct executor *x, struct reader *r)
{
	char *dest = ex_str(r), buf[64];
	struct mount_attr_v0 attr = { 0 };
	int recursive, fd;

	attr.attr_set = ex_int(r);
	attr.attr_clr = ex_int(r);
	recursive = ex_int(r);
	fd = existing_target(x, dest);
	if ((attr.attr_set || attr.attr_clr) &&
	    syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof(attr)) < 0)
		fail(x, errno, recursive ? "set recursive mount attributes" : "set mount attributes");
	while (r->p < r->end) {
		unsigned long prop = ex_int(r);
		if (mount(NULL, fd_path(fd, buf, sizeof(buf)), NULL, prop, NULL) < 0)
			fail(x, errno, "set propagation");
	}
	close(fd);
}

/* A device node, replacing whatever non-directory is at its path. */
void step_mknod(struct executor *x, struct reader *r)
{
	char *path = ex_str(r), rel[PATH_MAX], dir[PATH_MAX];
	mode_t mode = ex_int(r);
	dev_t dev = ex_int(r);
	int uid = ex_int(r), gid = ex_int(r), parent;
	const char *base;

	resolve_hint(x, path, rel, sizeof(rel));
	split_base(rel, dir, sizeof(dir), &base);
	parent = mkdir_all(x, dir, "create parent directory");
	if (unlinkat(parent, base, 0) < 0 && errno != ENOENT)
		fail(x, errno, "remove existing file");
	if (mknodat(parent, base, mode, dev) < 0)
		fail(x, errno, "mknod");
	if (fchownat(parent, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		fail(x, errno, "chown %d:%d", uid, gid);
	close(parent);
}

/* A symlink in a directory; replace removes what is there first, else an
 * existing entry (the image's choice) is kept. */
void step_symlink(struct executor *x, struct reader *r)
{
	char *dir = ex_str(r), *name = ex_str(r), *to = ex_str(r);
	int replace = ex_int(r), fd = dir_target(x, dir);

	if (replace && unlinkat(fd, name, 0) < 0 && errno != ENOENT)
		fail(x, errno, "remove %s/%s", dir, name);
	if (symlinkat(to, fd, name) < 0 && (replace || errno != EEXIST))
		fail(x, errno, "symlink %s/%s -> %s", dir, name, to);
	close(fd);
}

/*
 * pivot_root(".", "."): the old root ends up stacked on the new one and is
 * detached from there, so no put_old directory has to be made in (and
 * removed from) the container's rootfs.
 */
void step_pivot(struct executor *x, struct reader *r)
{
	char *rootfs = ex_str(r);
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC), newroot;

	if (oldroot < 0)
		fail(x, errno, "open old root");
	newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		fail(x, errno, "open rootfs \"%s\"", rootfs);
	if (fchdir(newroot) < 0)
		fail(x, errno, "chdir to rootfs");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(x, errno, "pivot_root into \"%s\"", rootfs);
	if (fchdir(oldroot) < 0)
		fail(x, errno, "chdir to old root");
	/* The old root may still be shared with the host: a slave first, so
	 * that detaching it here unmounts nothing on the host. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail(x, errno, "make old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		fail(x, errno, "detach old root");
	if (chdir("/") < 0)
		fail(x, errno, "chdir /");
	close(oldroot);
	close(newroot);
}

static const char *describe(const struct stat *st, char *buf, size_t size)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFLNK: return "a symlink";
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFCHR:
		snprintf(buf, size, "char device %u:%u", major(st->st_rdev), minor(st->st_rdev));
		return buf;
	case S_IFBLK:
		snprintf(buf, size, "block device %u:%u", major(st->st_rdev), minor(st->st_rdev));
		return buf;
	}
	snprintf(buf, size, "file type %#o", st->st_mode & S_IFMT);
	return buf;
}

/*
 * The container's /dev/null, checked on the fd opened to be the null
 * device: the image or a process sharing its /dev could have made it a
 * symlink to, or a copy of, a host file, and masking with that would expose
 * what masking should hide (CVE-2025-31133).
 */
static int open_null(struct executor *x, int flags)
{
	struct open_how_v0 how = {
		.flags = flags | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	struct stat st;
	char buf[64];
	int fd = syscall(SYS_openat2, x->rootfd, "/dev/null", &how, sizeof(how));

	if (fd < 0)
		fail(x, errno, "open /dev/null in the container");
	if (fstat(fd, &st) < 0)
		fail(x, errno, "stat /dev/null");
	if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		fail(x, 0, "/dev/null in the container is not the char device 1:3 (%s)", describe(&st, buf, sizeof(buf)));
	return fd;
}

static void attach(struct executor *x, int tree, int fd)
{
	if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(x, errno, "move_mount");
	close(tree);
}

/* A masked path: a directory gets an empty read-only tmpfs (made with the
 * new mount API, needing no /proc), a file the container's /dev/null.
 * A missing path is skipped: one spec serves kernels with and without it. */
void step_mask(struct executor *x, struct reader *r)
{
	char *path = ex_str(r);
	int fd = open_in_root(x->rootfd, path, 0), tree;
	struct stat st;

	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0 || fstat(fd, &st) < 0)
		fail(x, errno, "open %s", path);
	if (S_ISDIR(st.st_mode)) {
		tree = ex_detached_mount(x, "tmpfs", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	} else {
		if (x->nullfd < 0)
			x->nullfd = open_null(x, O_PATH);
		tree = syscall(SYS_open_tree, x->nullfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
		if (tree < 0)
			fail(x, errno, "open_tree");
	}
	attach(x, tree, fd);
	close(fd);
}

/* A read-only path: bound onto itself, recursively read-only; only the
 * read-only bit changes, so flags a user namespace locked need not be
 * repeated. A missing path is skipped. */
void step_readonly(struct executor *x, struct reader *r)
{
	char *path = ex_str(r);
	struct mount_attr_v0 attr = { .attr_set = MOUNT_ATTR_RDONLY };
	int fd = open_in_root(x->rootfd, path, 0), tree;

	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0)
		fail(x, errno, "open %s", path);
	tree = syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (tree < 0)
		fail(x, errno, "open_tree");
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		fail(x, errno, "make read-only");
	attach(x, tree, fd);
	close(fd);
}

/*
 * The container's own /dev/null in place of the host's where stdio is the
 * null device (a detached container's usual stdin), as runc does: a file
 * of a mount outside the container's mount namespace is one CRIU cannot
 * checkpoint, and it keeps the host's devtmpfs reachable from inside.
 */
void step_stdio_null(struct executor *x, struct reader *r)
{
	int null = -1;
	(void)r;
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
			continue;
		if (null < 0)
			null = open_null(x, O_RDWR);
		if (dup3(null, fd, 0) < 0)
			fail(x, errno, "replace fd %d with the container's /dev/null", fd);
	}
	if (null >= 0)
		close(null);
}

/* A file under the private procfs (a sysctl), never through a symlink or
 * another mount on the way. */
void step_write_proc(struct executor *x, struct reader *r)
{
	char *path = ex_str(r), *value = ex_str(r);
	int fd = ex_open_in_procfs(x, path, O_WRONLY);
	if (fd < 0)
		fail(x, errno, "open /proc/%s", path);
	if (write(fd, value, strlen(value)) < 0)
		fail(x, errno, "write \"%s\" to /proc/%s", value, path);
	close(fd);
}

/* 0: the hostname, 1: the NIS domain name. */
void step_set_hostname(struct executor *x, struct reader *r)
{
	int domain = ex_int(r);
	char *name = ex_str(r);
	if ((domain ? setdomainname(name, strlen(name)) : sethostname(name, strlen(name))) < 0)
		fail(x, errno, NULL);
}

/* A session keyring of its own, so the container cannot read the host's
 * keys. Kernels or seccomp profiles without keyrings answer ENOSYS or
 * EACCES: then there is nothing to isolate. */
void step_session_keyring(struct executor *x, struct reader *r)
{
	char *name = ex_str(r);
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) < 0 && errno != ENOSYS && errno != EACCES)
		fail(x, errno, NULL);
}

void step_unshare(struct executor *x, struct reader *r)
{
	if (unshare((int)ex_int(r)) < 0)
		fail(x, errno, NULL);
}

/* The rootfs is built: nothing of it stays open for the process, whose
 * cwd could otherwise be reached through /proc/self/fd (CVE-2024-21626). */
void step_close_root(struct executor *x, struct reader *r)
{
	(void)r;
	if (x->rootfd >= 0)
		close(x->rootfd);
	if (x->nullfd >= 0)
		close(x->nullfd);
	x->rootfd = x->nullfd = -1;
}

/*
 * The bind mounts the parent made (libcontainer/mounttrees_linux.go), one
 * 'F' message each (the index in the spec's mounts, the tree's fd), all
 * sent right after the plan: an idmapped mount needs CAP_SYS_ADMIN over
 * the host's user namespace, and a source below a directory only the
 * host's root may enter is out of this process's reach.
 */
void step_receive_trees(struct executor *x, struct reader *r)
{
	int n = ex_int(r);
	x->tree_index = calloc(n, sizeof(int));
	x->tree_fd = calloc(n, sizeof(int));
	if (n && (!x->tree_index || !x->tree_fd))
		fail(x, ENOMEM, NULL);
	for (x->ntrees = 0; x->ntrees < n; x->ntrees++) {
		char buf[32], ctl[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		struct cmsghdr *c;
		ssize_t len = recvmsg(x->sync, &msg, MSG_CMSG_CLOEXEC);

		if (len == 0)
			_exit(1); /* the parent is gone */
		if (len < 0)
			fail(x, errno, "sync");
		c = CMSG_FIRSTHDR(&msg);
		if (buf[0] != 'F' || !c || c->cmsg_type != SCM_RIGHTS)
			fail(x, 0, "sync: got message '%c', expected 'F' with a mount tree", buf[0]);
		buf[len] = '\0';
		memcpy(&x->tree_fd[x->ntrees], CMSG_DATA(c), sizeof(int));
		x->tree_index[x->ntrees] = atoi(buf + 1);
	}
}

/* One of those trees, moved onto its destination (made as a directory or
 * a file, by the tree's type). */
void step_attach_tree(struct executor *x, struct reader *r)
{
	int index = ex_int(r), fd;
	char *dest = ex_str(r);
	struct stat st;

	for (int i = 0; i < x->ntrees; i++) {
		if (x->tree_index[i] != index || x->tree_fd[i] < 0)
			continue;
		if (fstat(x->tree_fd[i], &st) < 0)
			fail(x, errno, "stat the mount tree");
		fd = S_ISDIR(st.st_mode) ? dir_target(x, dest) : file_target(x, dest);
		attach(x, x->tree_fd[i], fd);
		x->tree_fd[i] = -1;
		close(fd);
		return;
	}
	fail(x, 0, "the parent sent no mount tree for it");
}

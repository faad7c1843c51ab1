package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyUp copies the tree of the directory under, now covered by the
// tmpfs, into the tmpfs top. The fd of a covered directory still reaches
// its own entries (lookups from it do not cross the mount above it), so
// no second mount or path is needed. The tree is the image's: symlinks
// are copied as links, never followed, and only files, directories,
// links, devices and fifos are copied, with their mode and owner.
func copyUp(under, top *os.File) error {
	// Reopen the O_PATH fds for reading and writing entries; the
	// /proc/self/fd link leads to exactly the fd's directory.
	src, err := os.OpenFile(fdPath(under), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(fdPath(top), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer dst.Close()
	// The tmpfs root takes the covered directory's mode and owner, as
	// runc's copy does.
	st, err := fstat(src)
	if err != nil {
		return err
	}
	if err := unix.Fchmod(int(dst.Fd()), st.Mode&0o7777); err != nil {
		return err
	}
	if err := unix.Fchown(int(dst.Fd()), int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return copyDir(src, dst)
}

func copyDir(src, dst *os.File) error {
	names, err := src.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := copyEntry(src, dst, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func copyEntry(srcDir, dstDir *os.File, name string) error {
	sfd, dfd := int(srcDir.Fd()), int(dstDir.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	perm := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dfd, name, perm); err != nil {
			return err
		}
		s, err := openAt(srcDir, name)
		if err != nil {
			return err
		}
		defer s.Close()
		d, err := openAt(dstDir, name)
		if err != nil {
			return err
		}
		defer d.Close()
		if err := copyDir(s, d); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := copyFileAt(srcDir, dstDir, name, perm); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := readlinkAt(sfd, name)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, dfd, name); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknodat(dfd, name, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	default:
		return nil // sockets mean nothing in a copy
	}
	if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil // a link's mode means nothing and cannot be set
	}
	// chown clears set-id bits; put the mode back after it.
	return unix.Fchmodat(dfd, name, perm, 0)
}

func openAt(dir *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func copyFileAt(srcDir, dstDir *os.File, name string, perm uint32) error {
	// O_NONBLOCK: a fifo swapped in after the fstatat must not hang us.
	sfd, err := unix.Openat(int(srcDir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(sfd), name)
	defer src.Close()
	dfd, err := unix.Openat(int(dstDir.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(dfd), name)
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size > unix.PathMax {
			return "", errors.New("symlink target too long")
		}
	}
}

package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maskPaths hides linux.maskedPaths: files get the container's /dev/null
// bound over them, directories an empty read-only tmpfs. Missing paths are
// skipped, as in runc: the same spec serves kernels with and without them.
func maskPaths(r *root, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	var null *os.File // opened on the first masked file
	defer func() {
		if null != nil {
			null.Close()
		}
	}()
	for i, path := range paths {
		target, err := r.open(path)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("maskedPaths[%d] %q: %w", i, path, err)
		}
		err = func() error {
			defer target.Close()
			st, err := fstat(target)
			if err != nil {
				return err
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				return maskDir(target)
			}
			if null == nil {
				if null, err = openDevNull(r); err != nil {
					return err
				}
			}
			return bindFdOnto(null, target)
		}()
		if err != nil {
			return fmt.Errorf("maskedPaths[%d] %q: %w", i, path, err)
		}
	}
	return nil
}

// openDevNull opens the container's /dev/null and checks that it really is
// the null device. The container's image or a process sharing its /dev
// could have made it a symlink to, or a copy of, a host file; masking with
// that would expose what masking should hide, or let the container bind a
// file of its choice over /proc files (CVE-2025-31133). The fd checked is
// the fd mounted from, so nothing can be swapped in between.
func openDevNull(r *root) (*os.File, error) {
	null, err := openInRoot(r.fd, "/dev/null", unix.O_NOFOLLOW)
	if err != nil {
		return nil, fmt.Errorf("open /dev/null in the container: %w", err)
	}
	st, err := fstat(null)
	if err != nil {
		null.Close()
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		null.Close()
		return nil, fmt.Errorf("/dev/null in the container is not the char device 1:3 (%s)", describe(st))
	}
	return null, nil
}

func describe(st *unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR:
		return fmt.Sprintf("char device %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		return fmt.Sprintf("block device %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return fmt.Sprintf("file type %#o", st.Mode&unix.S_IFMT)
}

// maskDir covers a directory with an empty read-only tmpfs, built with the
// new mount API so that it needs no /proc in the container.
func maskDir(target *os.File) error {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("create tmpfs: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC,
		unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("fsmount tmpfs: %w", err)
	}
	tree := os.NewFile(uintptr(mfd), "tmpfs")
	defer tree.Close()
	return attach(tree, target)
}

// bindFdOnto bind-mounts the file src is open on over target.
func bindFdOnto(src, target *os.File) error {
	fd, err := unix.OpenTree(int(src.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	tree := os.NewFile(uintptr(fd), src.Name())
	defer tree.Close()
	return attach(tree, target)
}

// readonlyPath binds path onto itself read-only, recursively so that
// nothing mounted below it stays writable. mount_setattr changes only the
// read-only bit, so flags a user namespace locked (nosuid, nodev...)
// need not be repeated, which a classic MS_REMOUNT would require.
// A missing path is skipped.
func readonlyPath(r *root, path string) error {
	target, err := r.open(path)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer target.Close()
	fd, err := unix.OpenTree(int(target.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	tree := os.NewFile(uintptr(fd), path)
	defer tree.Close()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("make read-only: %w", err)
	}
	return attach(tree, target)
}

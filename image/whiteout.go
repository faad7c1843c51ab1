package image

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// whiteout handles a .wh.* entry in directory dir of the layer.
func (a *applier) whiteout(dir, base string) error {
	if err := a.wait(); err != nil { // deletions must not race the writers
		return err
	}
	// In a flattened rootfs a whiteout under a missing directory has nothing to delete.
	pfd, err := a.parent(dir, a.mode == OverlayWhiteouts)
	if a.mode == ApplyWhiteouts && errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if base == whiteoutOpaque {
		if a.mode == OverlayWhiteouts {
			if err := unix.Fsetxattr(pfd, overlayOpaqueXattr(), []byte("y"), 0); err != nil {
				return fmt.Errorf("marking directory %q opaque: %w", dir, err)
			}
			return nil
		}
		return a.removeLowerChildren(pfd, dir)
	}
	if len(base) > len(whiteoutMetaPrefix) && base[:len(whiteoutMetaPrefix)] == whiteoutMetaPrefix {
		return nil // aufs bookkeeping such as .wh..wh.plnk: nothing to apply
	}
	target := base[len(whiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("whiteout names no file")
	}
	name := path.Join(dir, target)
	if a.created[name] {
		return nil // a whiteout hides lower layers only, never its own layer's file
	}
	if a.mode == OverlayWhiteouts {
		if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("whiteout device for %q: %w", name, err)
		}
		return nil
	}
	a.forget(name)
	if err := removeAllAt(pfd, target); err != nil {
		return fmt.Errorf("deleting whited-out %q: %w", name, err)
	}
	return nil
}

// removeLowerChildren empties an opaque directory of everything that came
// from lower layers, keeping what this layer already put there.
func (a *applier) removeLowerChildren(pfd int, dir string) error {
	names, err := readDirNames(pfd, ".")
	if err != nil {
		return fmt.Errorf("opaque directory %q: %w", dir, err)
	}
	for _, n := range names {
		child := path.Join(dir, n)
		if a.created[child] {
			continue
		}
		a.forget(child)
		if err := removeAllAt(pfd, n); err != nil {
			return fmt.Errorf("opaque directory %q: removing %q: %w", dir, n, err)
		}
	}
	return nil
}

// removeAllAt removes name below directory fd dirfd, recursively, never
// following symlinks. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readDirNames(fd, ".")
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// readDirNames lists a directory given relative to dirfd.
func readDirNames(dirfd int, name string) ([]string, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return f.Readdirnames(-1)
}

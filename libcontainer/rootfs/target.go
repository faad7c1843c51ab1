package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// root is the container's root directory, held open so that every path in
// the spec is resolved beneath it and never through a symlink out of it.
//
// Mount targets are opened as O_PATH fds and the mount is made on the fd
// (through /proc/self/fd/N or move_mount), never on a path string: a path
// checked and then mounted on can be swapped for a symlink in between by
// a process sharing the rootfs (CVE-2021-30465).
type root struct {
	path string   // host path, used only to compute lexical resolutions
	fd   *os.File // O_PATH|O_DIRECTORY on the rootfs mount
}

func openRoot(path string) (*root, error) {
	fd, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	return &root{path: path, fd: fd}, nil
}

func (r *root) Close() error { return r.fd.Close() }

// resolve returns dest with the rootfs's symlinks followed as if the rootfs
// were "/", relative to the rootfs. The result is only a hint for creating
// missing components: what is finally opened is opened again inside the
// root by openInRoot or pathrs, so a later swap cannot escape.
func (r *root) resolve(dest string) (string, error) {
	full, err := securejoin.SecureJoin(r.path, dest)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(r.path, full)
	if err != nil {
		return "", err
	}
	return rel, nil
}

// open opens an existing path inside the root as O_PATH, following
// symlinks only within the root.
func (r *root) open(dest string) (*os.File, error) {
	return openInRoot(r.fd, dest, 0)
}

// lstat opens the last component of dest itself (a symlink stays a
// symlink) and returns its fstat. ENOENT is returned as is.
func (r *root) lstat(dest string) (*unix.Stat_t, error) {
	f, err := openInRoot(r.fd, dest, unix.O_NOFOLLOW)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return fstat(f)
}

// mkdirTarget opens dest as a directory, creating it and its parents
// (mode 0755) inside the root if they are missing.
func (r *root) mkdirTarget(dest string) (*os.File, error) {
	rel, err := r.resolve(dest)
	if err != nil {
		return nil, err
	}
	f, err := pathrs.MkdirAllHandle(r.fd, rel, 0o755)
	if err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	return f, nil
}

// fileTarget opens dest for a mount of a non-directory (a bind-mounted
// file or device), creating an empty regular file and the parent
// directories if it is missing.
func (r *root) fileTarget(dest string) (*os.File, error) {
	rel, err := r.resolve(dest)
	if err != nil {
		return nil, err
	}
	parent, err := pathrs.MkdirAllHandle(r.fd, filepath.Dir(rel), 0o755)
	if err != nil {
		return nil, fmt.Errorf("create parent directory: %w", err)
	}
	defer parent.Close()
	base := filepath.Base(rel)
	// mknodat never follows a symlink at base; EEXIST means something is
	// already there and the mount decides whether it fits.
	if err := unix.Mknodat(int(parent.Fd()), base, unix.S_IFREG|0o644, 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create file: %w", err)
	}
	return openInRoot(parent, base, 0)
}

// openInRoot is openat2(RESOLVE_IN_ROOT) as O_PATH: ".." and absolute
// symlinks stop at dir, and magic links (/proc/self/root...) are refused.
func openInRoot(dir *os.File, path string, flags uint64) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | flags,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(int(dir.Fd()), path, &how)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			// openat2 asks for a retry when a rename raced the lookup.
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

func fstat(f *os.File) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// fdPath names an open fd for syscalls that only take paths (mount(2)).
// The kernel resolves it to exactly the fd's file, not to whatever the
// original path points at now.
func fdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

package libcontainer

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// procfs is a private procfs instance of the container's pid namespace,
// mounted detached. The init writes sysctls, and the exec stage reopens
// the exec fifo, through it rather than the rootfs' /proc: a mount or
// symlink the container's config or image placed under /proc cannot
// redirect those writes to another file (CVE-2025-52881).
type procfs struct{ fd int }

func openProcfs() (*procfs, error) {
	fd, err := detachedMount("proc", nil, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return nil, fmt.Errorf("private procfs: %w", err)
	}
	return &procfs{fd}, nil
}

// write writes data to a file under the private procfs, refusing to cross
// a symlink or another mount on the way.
func (p *procfs) write(path, data string) error {
	fd, err := unix.Openat2(p.fd, path, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return fmt.Errorf("open /proc/%s: %w", path, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(data)); err != nil {
		return fmt.Errorf("write %q to /proc/%s: %w", data, path, err)
	}
	return nil
}

// read reads a file under the private procfs.
func (p *procfs) read(path string) ([]byte, error) {
	fd, err := unix.Openat2(p.fd, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	return buf[:n], err
}

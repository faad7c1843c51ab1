package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// reopenDevNull gives the container its own /dev/null in place of the
// host's where the init's stdio is the null device (a detached container's
// usual stdin), as runc does: a file of a mount outside the container's
// mount namespace is one CRIU cannot checkpoint ("Can't lookup mount"), and
// it keeps the host's devtmpfs reachable from inside. Runs after the pivot,
// with r the container's root.
func reopenDevNull(r *root) error {
	null := -1
	defer func() {
		if null >= 0 {
			unix.Close(null)
		}
	}()
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
			continue
		}
		if null < 0 {
			var err error
			if null, err = openContainerNull(r); err != nil {
				return err
			}
		}
		if err := unix.Dup3(null, fd, 0); err != nil {
			return fmt.Errorf("stdio: replace fd %d with the container's /dev/null: %w", fd, err)
		}
	}
	return nil
}

// openContainerNull opens the container's /dev/null for reading and
// writing, checked on the fd opened to be the null device (see openDevNull).
func openContainerNull(r *root) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(int(r.fd.Fd()), "/dev/null", &how)
	if err != nil {
		return -1, fmt.Errorf("stdio: open /dev/null in the container: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		unix.Close(fd)
		return -1, fmt.Errorf("stdio: /dev/null in the container is not the char device 1:3")
	}
	return fd, nil
}

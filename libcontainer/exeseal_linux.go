package libcontainer

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// sealedExe returns an O_PATH fd of the strata binary as seen through a
// private, read-only overlay mount that is never attached to any mount
// table. The init is executed from it, so /proc/<init>/exe (and the
// binary a container reaches with a "#!/proc/self/exe" script) is on a
// read-only filesystem: it cannot be opened for writing and the host's
// strata cannot be overwritten (CVE-2019-5736).
//
// runc copies its binary into a memfd on every start, which costs
// milliseconds for a 10 MB binary; this costs a few hundred microseconds
// and leaves nothing behind: the mount is freed with its last fd.
func sealedExe() (*os.File, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("seal the strata binary: %w", err)
	}
	fd, err := overlayOf(filepath.Dir(self), filepath.Base(self))
	if err != nil {
		return nil, fmt.Errorf("seal the strata binary %s: %w", self, err)
	}
	return os.NewFile(uintptr(fd), "strata-sealed"), nil
}

func overlayOf(dir, name string) (int, error) {
	// overlayfs needs two lower layers when it has no upper one: an empty
	// detached tmpfs serves as the second.
	const ro = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID
	empty, err := detachedMount("tmpfs", nil, ro)
	if err != nil {
		return -1, err
	}
	defer unix.Close(empty)
	mnt, err := detachedMount("overlay", [][2]string{
		{"lowerdir+", dir},
		{"lowerdir+", fmt.Sprintf("/proc/self/fd/%d", empty)},
	}, ro)
	if err != nil {
		return -1, err
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s in the sealed mount: %w", name, err)
	}
	return fd, nil
}

// detachedMount creates a mount with the new mount API and returns its fd
// without attaching it anywhere: nothing sees it, nothing can cover it, and
// it goes away with its last fd.
func detachedMount(fstype string, opts [][2]string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	for _, o := range opts {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return -1, fmt.Errorf("fsconfig %s %s=%s: %w", fstype, o[0], o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig %s create: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return mfd, nil
}

package bundle

import (
	"errors"
	"fmt"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// unmount detaches the rootfs if mounted. A busy mount is an error, not a
// lazy detach: the bundle is still in use by a container.
func unmount(target string) error {
	mounted, err := mountinfo.Mounted(target)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("checking the mount on %s: %w", target, err)
	}
	if !mounted {
		return nil
	}
	err = unix.Unmount(target, 0)
	// A path lookup in progress elsewhere (a stat, `bundle ls` or gc
	// checking whether the rootfs is mounted) holds the mount for its
	// duration, and umount(2) without MNT_DETACH then fails with EBUSY.
	// Such a hold lasts microseconds; a container's lasts. TestGCDuringCreate
	// (gc spinning beside rm) hit it in the guests, where syscalls are slow.
	for wait := time.Millisecond; errors.Is(err, unix.EBUSY) && wait <= busyPatience; wait *= 2 {
		time.Sleep(wait)
		err = unix.Unmount(target, 0)
	}
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("unmount %s: busy (is a container still running from this bundle?)", target)
	}
	if err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// busyPatience is the longest of the waits before unmount says busy: about
// 0.25 s in all.
const busyPatience = 128 * time.Millisecond

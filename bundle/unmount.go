package bundle

import (
	"errors"
	"fmt"

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
	if err := unix.Unmount(target, 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("unmount %s: busy (is a container still running from this bundle?)", target)
		}
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

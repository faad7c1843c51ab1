package rootfs

import (
	"fmt"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/specconv"
)

// isolateRoot prepares the new mount namespace for the spec's mounts.
//
// A new mount namespace starts as a copy whose mounts stay in the host's
// peer groups: every mount made below a shared mount would appear on the
// host too. So "/" is first made rslave (or the rootfsPropagation value,
// always recursively): host mounts still reach the container, nothing goes
// back. Then the rootfs is bound onto itself, because pivot_root needs the
// new root to be a mount point, and the mount held by the rootfs fd must be
// the one that becomes "/".
func isolateRoot(c *Config) error {
	flag := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if c.Spec.Linux != nil && c.Spec.Linux.RootfsPropagation != "" {
		f, err := PropagationFlag(c.Spec.Linux.RootfsPropagation)
		if err != nil {
			return err
		}
		// Unbindable stays for Finalize, on the new root alone: on "/"
		// now it would forbid the binds still to come (of the rootfs
		// onto itself, of host paths into it) with EINVAL.
		if f&unix.MS_UNBINDABLE == 0 {
			flag = f | unix.MS_REC
		}
	}
	if err := unix.Mount("", "/", "", flag, ""); err != nil {
		return fmt.Errorf("set propagation of / (linux.rootfsPropagation): %w", err)
	}
	// Only a shared "/" can leave the rootfs under a shared mount: with
	// the usual rslave, skip reading the host's mount table.
	if flag&unix.MS_SHARED != 0 {
		if err := privatizeRootfsParent(c.Rootfs); err != nil {
			return err
		}
	}
	ov, err := specconv.ParseOverlay(c.Spec)
	if err != nil {
		return err
	}
	if ov != nil {
		return mountOverlayRoot(c, ov)
	}
	if err := unix.Mount(c.Rootfs, c.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %q onto itself: %w", c.Rootfs, err)
	}
	return nil
}

// privatizeRootfsParent makes the mount holding the rootfs private when it
// is shared (rootfsPropagation "shared" or "rshared"): pivot_root refuses
// a new root whose parent mount is shared, and binding the rootfs onto
// itself under a shared parent would also propagate that bind.
func privatizeRootfsParent(rootfs string) error {
	parent, err := rootfsParent(rootfs)
	if err != nil || parent == nil || !strings.Contains(parent.Optional, "shared:") {
		return err
	}
	if err := unix.Mount("", parent.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s (the mount holding the rootfs) private: %w", parent.Mountpoint, err)
	}
	return nil
}

// rootfsParent is the mount holding the rootfs (nil if none is listed).
func rootfsParent(rootfs string) (*mountinfo.Info, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(rootfs))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, m := range mounts {
		// ">=": of mounts stacked on one point, the last listed is on top.
		if parent == nil || len(m.Mountpoint) >= len(parent.Mountpoint) {
			parent = m
		}
	}
	return parent, nil
}

// RootfsParentMount is the mount point holding the rootfs, for a plan that
// makes "/" shared (libcontainer/plan's Rootfs): that mount is then shared
// too, and pivot_root refuses a new root whose parent mount is shared.
func RootfsParentMount(rootfs string) (string, error) {
	parent, err := rootfsParent(rootfs)
	if err != nil || parent == nil {
		return "", err
	}
	return parent.Mountpoint, nil
}

package bundle

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/host"
)

// mountOverlay mounts lowers (top layer first) under upper on target.
//
// Where the kernel has overlayfs's lowerdir+ (Linux 6.8+), each lower is its
// own fsconfig call, so no option string caps the layer count. Older kernels
// get the classic lowerdir= option through mount(2) (overlay_classic.go).
// Which of the two works is learnt once per process, from the kernel itself:
// the first mount tries lowerdir+, and only if that fails does the host
// probe (libcontainer/host) tell "lowerdir+ unknown" from any other failure.
func mountOverlay(target string, lowers []string, upper, work string) error {
	if lowerdirPlus.Load() != lowerdirPlusNo {
		err := mountOverlayAppend(target, lowers, upper, work)
		if err == nil || lowerdirPlus.Load() == lowerdirPlusYes {
			if err == nil {
				lowerdirPlus.Store(lowerdirPlusYes)
			}
			return err
		}
		if host.OverlayLowerdirPlus().OK {
			lowerdirPlus.Store(lowerdirPlusYes)
			return err
		}
		lowerdirPlus.Store(lowerdirPlusNo)
	}
	if err := mountOverlayClassic(target, lowers, upper, work, false); err != nil {
		return fmt.Errorf("%w (this kernel's overlayfs has no lowerdir+, so the classic lowerdir= option was used)", err)
	}
	return nil
}

// lowerdirPlus is what this process learnt about the kernel: unknown until a
// lowerdir+ mount succeeds or a probe says it cannot.
var lowerdirPlus atomic.Int32

const (
	lowerdirPlusUnknown = iota
	lowerdirPlusYes
	lowerdirPlusNo
)

// mountOverlayAppend is the new mount API with one fsconfig("lowerdir+") per
// layer, so the one-page limit of mount(2)'s option string does not cap the
// layer count (Linux 6.8+).
func mountOverlayAppend(target string, lowers []string, upper, work string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("overlay on %s: fsopen: %w (is overlayfs available? --copy makes a plain rootfs instead)", target, err)
	}
	defer unix.Close(fsfd)
	set := func(key, val string) error {
		if err := unix.FsconfigSetString(fsfd, key, val); err != nil {
			return fmt.Errorf("overlay on %s: %s=%s: %w%s", target, key, val, err, host.FsContextLog(fsfd))
		}
		return nil
	}
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	for _, kv := range overlayOptions(upper, work) {
		if err := set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("overlay on %s: create: %w%s", target, err, host.FsContextLog(fsfd))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("overlay on %s: fsmount: %w%s", target, err, host.FsContextLog(fsfd))
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("overlay on %s: move_mount: %w", target, err)
	}
	return nil
}

// overlayOptions are the options after the lower layers, in both mount
// paths. index=off lets a bundle be remounted over the same upper after the
// store changes; redirect_dir and metacopy off keep upper a complete record
// of the changes, which diff reads as a layer. All three are known to
// overlayfs since 4.19, well before the oldest kernel we support (5.14).
func overlayOptions(upper, work string) [][2]string {
	return [][2]string{{"upperdir", upper}, {"workdir", work}, {"index", "off"}, {"redirect_dir", "off"}, {"metacopy", "off"}}
}

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

package bundle

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountOverlay mounts lowers (top layer first) under upper on target.
func mountOverlay(target string, lowers []string, upper, work string) error {
	return mountOverlayAppend(target, lowers, upper, work)
}

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
			return fmt.Errorf("overlay on %s: %s=%s: %w%s", target, key, val, err, kernelLog(fsfd))
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
		return fmt.Errorf("overlay on %s: create: %w%s", target, err, kernelLog(fsfd))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("overlay on %s: fsmount: %w%s", target, err, kernelLog(fsfd))
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

// kernelLog reads the messages the kernel left on an fs context: they say
// which option it rejected and why.
func kernelLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (kernel: " + strings.Join(msgs, "; ") + ")"
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

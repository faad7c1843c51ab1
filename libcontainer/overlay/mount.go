// Package overlay mounts overlayfs: the bundle builder's rootfs (on the host,
// as root) and a rootless bundle's rootfs, which the container's init mounts
// in the container's own user and mount namespaces. Both need the same care
// for deep images on kernels with and without lowerdir+.
package overlay

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/host"
)

// Options are the choices a caller makes beyond the directories.
type Options struct {
	// UserXattr keeps overlayfs's own metadata (opaque directories) in
	// user.overlay.* xattrs instead of trusted.overlay.*: the only kind an
	// overlay mounted inside a user namespace may use (Linux 5.11+), and
	// the kind a store unpacked in one carries.
	UserXattr bool
}

// Mount mounts lowers (top layer first) under upper on target.
//
// Where the kernel has overlayfs's lowerdir+ (Linux 6.8+), each lower is its
// own fsconfig call, so no option string caps the layer count. Older kernels
// get the classic lowerdir= option through mount(2) (overlay_classic.go).
// Which of the two works is learnt once per process, from the kernel itself:
// the first mount tries lowerdir+, and only if that fails does the host
// probe (libcontainer/host) tell "lowerdir+ unknown" from any other failure.
func Mount(target string, lowers []string, upper, work string, o Options) error {
	if lowerdirPlus.Load() != lowerdirPlusNo {
		err := mountAppend(target, lowers, upper, work, o)
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
	if err := mountClassic(target, lowers, upper, work, o, false); err != nil {
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

// UseClassic makes this process take the classic lowerdir= way, as on a
// kernel before 6.8, until the returned function restores what it knew: for
// tests of that path on newer kernels.
func UseClassic() (restore func()) {
	saved := lowerdirPlus.Load()
	lowerdirPlus.Store(lowerdirPlusNo)
	return func() { lowerdirPlus.Store(saved) }
}

// mountAppend is the new mount API with one fsconfig("lowerdir+") per
// layer, so the one-page limit of mount(2)'s option string does not cap the
// layer count (Linux 6.8+).
func mountAppend(target string, lowers []string, upper, work string, o Options) error {
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
	for _, kv := range options(upper, work, o) {
		if kv[1] == "" {
			if err := unix.FsconfigSetFlag(fsfd, kv[0]); err != nil {
				return fmt.Errorf("overlay on %s: %s: %w%s", target, kv[0], err, host.FsContextLog(fsfd))
			}
			continue
		}
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

// options are the options after the lower layers, in both mount
// paths. index=off lets a bundle be remounted over the same upper after the
// store changes; redirect_dir and metacopy off keep upper a complete record
// of the changes, which diff reads as a layer. All three are known to
// overlayfs since 4.19, well before the oldest kernel we support (5.14).
// With userxattr the kernel takes redirect_dir=nofollow only (off means
// follow on kernels built with redirect_always_follow, and conflicts),
// which creates no redirects either; userxattr comes last.
func options(upper, work string, o Options) [][2]string {
	redirect := "off"
	if o.UserXattr {
		redirect = "nofollow"
	}
	opts := [][2]string{{"upperdir", upper}, {"workdir", work}, {"index", "off"}, {"redirect_dir", redirect}, {"metacopy", "off"}}
	if o.UserXattr {
		opts = append(opts, [2]string{"userxattr", ""})
	}
	return opts
}

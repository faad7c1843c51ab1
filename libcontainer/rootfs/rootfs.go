// Package rootfs builds a container's root filesystem from the inside of
// its new mount namespace: propagation, spec mounts, /dev, the change of
// root, and the masked and read-only paths. The init calls, in order:
//
//	Prepare   before the createContainer hooks (the host's / is still "/")
//	Pivot     after them
//	Finalize  after Pivot, inside the container's root
//
// Every destination is resolved inside the rootfs; see target.go.
package rootfs

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Config is what the three steps need.
type Config struct {
	// Spec is validated already; Spec.Root.Path is resolved to Rootfs.
	Spec *specs.Spec
	// Rootfs is the absolute host path of the container's root directory.
	Rootfs string
	// Bundle is the absolute bundle directory; relative bind-mount sources
	// are resolved against it, as runc (which runs there) does.
	Bundle string
	// NoPivot (--no-pivot) moves the rootfs mount onto "/" and chroots
	// instead of pivot_root: for a rootfs on ramfs, where pivot_root fails.
	NoPivot bool
	// InUserNS is set when the container has its own user namespace:
	// device nodes cannot be mknod'ed there and are bound from the host,
	// and sysfs/mqueue fall back to binds from the host when refused.
	InUserNS bool
	// MountFiles holds, by index in Spec.Mounts, detached bind-mount trees
	// the parent made with BindTree (needed for idmapped mounts when the
	// init is in a user namespace). Prepare attaches and closes them.
	MountFiles map[int]*os.File `json:"-"`
	// BeforeCgroups, when set, runs once before the first cgroup mount (or
	// at the end of the mounts): a cgroup mount shows the cgroups the
	// process is in, so the caller finishes moving it there by then, and
	// the mounts before can overlap that move.
	BeforeCgroups func() error `json:"-"`
}

// beforeCgroups calls BeforeCgroups the first time only.
func (c *Config) beforeCgroups() error {
	f := c.BeforeCgroups
	c.BeforeCgroups = nil
	if f == nil {
		return nil
	}
	return f()
}

// preparer carries the state of one Prepare call.
type preparer struct {
	c    *Config
	root *root
	// devReadonly: a /dev mount asked for ro, mounted rw until its
	// device nodes are made (see mountSpec).
	devReadonly bool
}

// Prepare runs in the container's new mount namespace before the
// createContainer hooks: it isolates propagation, makes the rootfs a
// mount point, performs spec.Mounts in order and populates /dev.
func Prepare(c *Config) error {
	defer func() {
		for _, f := range c.MountFiles {
			f.Close()
		}
	}()
	if !filepath.IsAbs(c.Rootfs) {
		return fmt.Errorf("rootfs %q: expected an absolute path", c.Rootfs)
	}
	// Modes in the spec (devices' fileMode, tmpfs mode=) are meant
	// exactly; the umask is restored for the container's process.
	old := unix.Umask(0)
	defer unix.Umask(old)

	if err := isolateRoot(c); err != nil {
		return err
	}
	r, err := openRoot(c.Rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	p := &preparer{c: c, root: r}

	for i, m := range c.Spec.Mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			if err := c.beforeCgroups(); err != nil {
				return err
			}
		}
		if err := p.mountSpec(i, m); err != nil {
			return fmt.Errorf("mounts[%d]: destination %q: %w", i, m.Destination, err)
		}
	}
	if err := c.beforeCgroups(); err != nil {
		return err
	}
	if err := p.setupDev(); err != nil {
		return err
	}
	return p.readonlyDev()
}

// readonlyDev makes a /dev mount the spec asked to be read-only so, once
// its device nodes and symlinks are in place.
func (p *preparer) readonlyDev() error {
	if !p.devReadonly {
		return nil
	}
	dev, err := p.root.open("/dev")
	if err != nil {
		return err
	}
	defer dev.Close()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(int(dev.Fd()), "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mount on /dev: make it read-only: %w", err)
	}
	return nil
}

// Pivot makes c.Rootfs the root of the mount namespace and the process's
// root and working directory.
func Pivot(c *Config) error {
	if c.NoPivot {
		return moveRoot(c.Rootfs)
	}
	return pivotRoot(c.Rootfs)
}

// Finalize runs after Pivot, inside the container's root: masked paths,
// read-only paths, stdio on the container's /dev/null, root.readonly and
// the final rootfsPropagation.
func Finalize(c *Config) error {
	r, err := openRoot("/")
	if err != nil {
		return err
	}
	defer r.Close()
	var masked, readonly []string
	if c.Spec.Linux != nil {
		masked, readonly = c.Spec.Linux.MaskedPaths, c.Spec.Linux.ReadonlyPaths
	}
	if err := maskPaths(r, masked); err != nil {
		return err
	}
	for i, path := range readonly {
		if err := readonlyPath(r, path); err != nil {
			return fmt.Errorf("readonlyPaths[%d] %q: %w", i, path, err)
		}
	}
	// After the masked paths, whose check of the container's /dev/null
	// names the field that needs it.
	if err := reopenDevNull(r); err != nil {
		return err
	}
	if c.Spec.Root != nil && c.Spec.Root.Readonly {
		// Only the root mount itself: /dev, /proc, tmpfs mounts below
		// stay as the spec asked.
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(int(r.fd.Fd()), "", unix.AT_EMPTY_PATH, &attr); err != nil {
			return fmt.Errorf("root.readonly: remount / read-only: %w", err)
		}
	}
	if c.Spec.Linux != nil && c.Spec.Linux.RootfsPropagation != "" {
		// The pivot created the root mount after Prepare set propagation
		// on the old one; apply the requested value to the new root.
		flag, err := PropagationFlag(c.Spec.Linux.RootfsPropagation)
		if err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", flag, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %q: %w", c.Spec.Linux.RootfsPropagation, err)
		}
	}
	return nil
}

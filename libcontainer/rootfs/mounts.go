package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// UserNSFallback names, per filesystem type, the host path bind-mounted
// instead when a user namespace may not mount a fresh instance: sysfs
// needs the network namespace's owner, mqueue the IPC namespace's.
// cgroup2 (which needs the cgroup namespace's) binds the container's own
// cgroup: see ownCgroup2Dir.
func UserNSFallback(fstype string) (host string, ok bool) {
	switch fstype {
	case "sysfs":
		return "/sys", true
	case "mqueue":
		return "/dev/mqueue", true
	}
	return "", false
}

// SpecMount is a spec mount with what both inits decide alike decided
// (this package's and the plan's, libcontainer/plan/rootfs.go): its
// options parsed and checked, a "cgroup" mount on a pure cgroup v2 host
// made cgroup2, a read-only /dev made writable until its nodes exist.
type SpecMount struct {
	specs.Mount
	Opts MountOptions
	Bind bool
	// DevReadonly: /dev was asked read-only, which it becomes once its
	// device nodes are made (as runc does).
	DevReadonly bool
}

// ResolveMount decides what SpecMount says for m; pureCgroup2 is asked
// only for a "cgroup" mount.
func ResolveMount(m specs.Mount, pureCgroup2 func() bool) (SpecMount, error) {
	opts, err := ParseOptions(m.Options)
	if err != nil {
		return SpecMount{}, err
	}
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		// runtime-spec: mappings on a mount make it an idmapped mount.
		opts.IDMap = true
	}
	sm := SpecMount{Mount: m, Bind: isBind(m, opts)}
	if opts.IDMap && !sm.Bind {
		return SpecMount{}, fmt.Errorf("idmapped mounts are only supported for bind mounts, not type %q", m.Type)
	}
	if opts.TmpCopyUp && m.Type != "tmpfs" {
		return SpecMount{}, fmt.Errorf("option tmpcopyup is only for type tmpfs, not %q", m.Type)
	}
	if m.Type == "cgroup" && !sm.Bind && pureCgroup2() {
		// As runc: on a pure cgroup v2 host a "cgroup" mount is the
		// cgroup2 filesystem (the v1 layout of one directory per
		// hierarchy would be an empty tmpfs: there are no hierarchies).
		sm.Type = "cgroup2"
	}
	if filepath.Clean(m.Destination) == "/dev" && opts.Flags&unix.MS_RDONLY != 0 && opts.Flags&unix.MS_REMOUNT == 0 {
		opts.Flags &^= unix.MS_RDONLY
		sm.DevReadonly = true
	}
	sm.Opts = opts
	return sm, nil
}

// mountSpec performs spec.Mounts[i] inside the root.
func (p *preparer) mountSpec(i int, spec specs.Mount) error {
	sm, err := ResolveMount(spec, pureCgroup2)
	if err != nil {
		return err
	}
	m, opts, isBind := sm.Mount, sm.Opts, sm.Bind
	// Made read-only by readonlyDev.
	p.devReadonly = p.devReadonly || sm.DevReadonly
	switch {
	case opts.Flags&unix.MS_REMOUNT != 0:
		return p.remount(m, opts)
	case isBind:
		return p.mountBind(i, m, opts, BindSource(p.c.Bundle, m.Source))
	case m.Type == "cgroup":
		return p.mountCgroupV1(m, opts)
	}
	err = p.mountFilesystem(m, opts)
	if !p.c.InUserNS || !errors.Is(err, unix.EPERM) {
		return err
	}
	host, ok := UserNSFallback(m.Type)
	if m.Type == "cgroup2" {
		dir, cerr := ownCgroup2Dir()
		if cerr != nil {
			return fmt.Errorf("%w; binding the container's cgroup instead: %v", err, cerr)
		}
		host, ok = dir, true
	}
	if !ok {
		return err
	}
	opts.Flags |= unix.MS_BIND | unix.MS_REC
	return p.mountBind(i, m, opts, host)
}

// BindSource resolves a relative bind source against the bundle, where
// runc runs and where configs written for runc expect it to be.
func BindSource(bundle, source string) string {
	if filepath.IsAbs(source) || bundle == "" {
		return source
	}
	return filepath.Join(bundle, source)
}

// plainDirTarget opens dest for proc and sysfs, which must be mounted
// on a real directory: mounted where a container-made symlink points,
// they would land wherever the container chose, and masked and read-only
// paths would then protect the wrong place (CVE-2019-19921,
// CVE-2019-16884). The fd mounted on is opened without following a last
// symlink, so one swapped in after the check is refused too.
func (p *preparer) plainDirTarget(dest string) (*os.File, error) {
	st, err := p.root.lstat(dest)
	switch {
	case errors.Is(err, unix.ENOENT):
		dir, err := p.root.mkdirTarget(dest)
		if err != nil {
			return nil, err
		}
		dir.Close()
	case err != nil:
		return nil, err
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return nil, errors.New("target is a symlink in the rootfs")
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return nil, errors.New("target is not a directory in the rootfs")
	}
	target, err := openInRoot(p.root.fd, dest, unix.O_NOFOLLOW|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOTDIR) {
		return nil, errors.New("target is not a directory (or became a symlink) in the rootfs")
	}
	return target, err
}

// mountFilesystem mounts a fresh filesystem instance (proc, tmpfs,
// devpts...) on the destination through its O_PATH fd.
func (p *preparer) mountFilesystem(m specs.Mount, opts MountOptions) error {
	var target *os.File
	var err error
	if m.Type == "proc" || m.Type == "sysfs" {
		target, err = p.plainDirTarget(m.Destination)
	} else {
		target, err = p.root.mkdirTarget(m.Destination)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Mount(m.Source, fdPath(target), m.Type, opts.Flags, opts.Data); err != nil {
		return fmt.Errorf("mount %s: %w", m.Type, err)
	}
	if opts.RecAttr == (unix.MountAttr{}) && len(opts.Propagation) == 0 && !opts.TmpCopyUp {
		return nil
	}
	// target is the directory underneath the new mount; reopen the
	// destination to get the mount itself.
	top, err := p.root.open(m.Destination)
	if err != nil {
		return err
	}
	defer top.Close()
	if opts.TmpCopyUp {
		if err := copyUp(target, top); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	return setMountAttrs(top, opts)
}

// remount changes the flags of a mount made earlier at the destination.
func (p *preparer) remount(m specs.Mount, opts MountOptions) error {
	top, err := p.root.open(m.Destination)
	if err != nil {
		return err
	}
	defer top.Close()
	if err := unix.Mount("", fdPath(top), "", opts.Flags, opts.Data); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return setMountAttrs(top, opts)
}

// mountBind bind-mounts source on the destination. The tree is built
// detached (bindTree) unless the parent already made it, then attached.
func (p *preparer) mountBind(i int, m specs.Mount, opts MountOptions, source string) error {
	tree := p.c.MountFiles[i]
	if tree == nil {
		if opts.IDMap && p.c.InUserNS {
			// The init is not privileged over the host's filesystems,
			// which an idmapped mount requires.
			return errors.New("idmapped mount inside a user namespace: the parent must make it with rootfs.BindTree and pass it in Config.MountFiles")
		}
		var err error
		if tree, err = bindTree(source, opts, m, nil); err != nil {
			return err
		}
	}
	defer tree.Close()
	st, err := fstat(tree)
	if err != nil {
		return err
	}
	var target *os.File
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		target, err = p.root.mkdirTarget(m.Destination)
	} else {
		target, err = p.root.fileTarget(m.Destination)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	if err := attach(tree, target); err != nil {
		return err
	}
	// After move_mount the tree fd is the attached mount itself.
	return setPropagation(tree, opts)
}

// BindTree makes the detached mount tree for the bind mount m, with all
// its flags and its idmapping applied, ready for Prepare to attach. The
// parent calls it for idmapped mounts of a container with a user
// namespace and passes the result in Config.MountFiles; containerUserNS
// (the container's /proc/PID/ns/user, or nil) supplies the mapping of an
// "idmap" mount without uidMappings/gidMappings of its own.
func BindTree(bundle string, m specs.Mount, containerUserNS *os.File) (*os.File, error) {
	opts, err := ParseOptions(m.Options)
	if err != nil {
		return nil, err
	}
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		opts.IDMap = true // as mountSpec decides
	}
	return bindTree(BindSource(bundle, m.Source), opts, m, containerUserNS)
}

// NeedsParentTree says whether the parent must make mount m with BindTree
// for a container with its own user namespace: an idmapped bind mount,
// which the init, not privileged over the host's filesystems, cannot make.
// Options that do not parse are left for the init to refuse by field.
func NeedsParentTree(m specs.Mount) bool {
	opts, err := ParseOptions(m.Options)
	if err != nil {
		return false
	}
	return isBind(m, opts) && (opts.IDMap || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0)
}

// IsBind tells whether m is a bind mount (type "bind", or the bind or
// rbind option).
func IsBind(m specs.Mount) bool {
	opts, err := ParseOptions(m.Options)
	return err == nil && isBind(m, opts)
}

func isBind(m specs.Mount, opts MountOptions) bool {
	return opts.Flags&unix.MS_BIND != 0 || m.Type == "bind"
}

// bindTree copies the source tree with open_tree and sets its flags while
// it is detached: it appears in the container already read-only (no
// window where a classic bind is writable before its remount), and a
// user namespace does not have to repeat the flags the kernel locked on
// the source, as a classic MS_REMOUNT must.
func bindTree(source string, opts MountOptions, m specs.Mount, containerUserNS *os.File) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if opts.Flags&unix.MS_REC != 0 {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, flags)
	if err != nil {
		return nil, fmt.Errorf("bind source %q: %w", source, err)
	}
	tree := os.NewFile(uintptr(fd), source)
	if err := setBindAttrs(tree, opts, m, containerUserNS); err != nil {
		tree.Close()
		return nil, err
	}
	return tree, nil
}

func setBindAttrs(tree *os.File, opts MountOptions, m specs.Mount, containerUserNS *os.File) error {
	if opts.IDMap {
		if err := idmapTree(tree, m, opts.RecursiveIDMap, containerUserNS); err != nil {
			return err
		}
	}
	if attr := opts.PerMountAttrs(); attr != (unix.MountAttr{}) {
		if err := unix.MountSetattr(int(tree.Fd()), "", unix.AT_EMPTY_PATH, &attr); err != nil {
			return fmt.Errorf("set mount flags: %w", err)
		}
	}
	return setRecAttr(tree, opts)
}

// attach moves a detached mount (from open_tree or fsmount) onto target.
func attach(tree, target *os.File) error {
	err := unix.MoveMount(int(tree.Fd()), "", int(target.Fd()), "",
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// setMountAttrs applies the r* attributes and then the propagation
// options to the mount whose root is mnt.
func setMountAttrs(mnt *os.File, opts MountOptions) error {
	if err := setRecAttr(mnt, opts); err != nil {
		return err
	}
	return setPropagation(mnt, opts)
}

func setRecAttr(mnt *os.File, opts MountOptions) error {
	if opts.RecAttr == (unix.MountAttr{}) {
		return nil
	}
	attr := opts.RecAttr
	if err := unix.MountSetattr(int(mnt.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("set recursive mount attributes: %w", err)
	}
	return nil
}

// setPropagation needs the mount attached: a detached tree has no peers.
func setPropagation(mnt *os.File, opts MountOptions) error {
	for _, prop := range opts.Propagation {
		if err := unix.Mount("", fdPath(mnt), "", prop, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	return nil
}

// pureCgroup2 says whether the host's /sys/fs/cgroup is itself cgroup2.
func pureCgroup2() bool {
	var st unix.Statfs_t
	return unix.Statfs(hostCgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

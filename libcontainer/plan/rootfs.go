package plan

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/rootfs"
	"github.com/strata-runtime/strata/libcontainer/specconv"
)

// The target kinds of an OpMount step (steps_rootfs.c has the same).
const (
	TargetDir      = 0 // a directory, made with its parents if missing
	TargetPlainDir = 1 // a real directory: not a symlink (proc, sysfs)
	TargetExisting = 2 // what is there (a remount)
)

// RootfsInput is what the steps of a container's root filesystem are
// compiled from: the spec, the container, and the facts of the host the
// caller gathered.
type RootfsInput struct {
	Spec         *specs.Spec // validated
	ID           string
	Rootfs       string // absolute host path
	Bundle       string // absolute
	NoPivot      bool
	NoNewKeyring bool
	// NewCgroupNS: unshare a cgroup namespace once placed in the cgroups.
	NewCgroupNS bool
	// InUserNS: the container has a user namespace, or strata runs in one:
	// device nodes are bound from the host, and sysfs, mqueue and cgroup2
	// fall back to binds of the host's when a fresh mount is refused.
	InUserNS bool
	// ParentTrees are the indexes in Spec.Mounts of the bind mounts the
	// parent makes and sends ('F', libcontainer/mounttrees_linux.go).
	ParentTrees []int
	// Cgroup2Dir is the host path of the container's cgroup2 directory,
	// the fallback of a cgroup2 mount in a user namespace ("" if unknown).
	Cgroup2Dir string
	// PureCgroup2: the host's /sys/fs/cgroup is cgroup2.
	PureCgroup2 bool
	// Hierarchies are the host's cgroup v1 (and hybrid cgroup2) mounts,
	// needed only for a "cgroup" mount on a host that is not pure v2.
	Hierarchies []rootfs.Hierarchy
	// RootfsParent is the mount point holding the rootfs, needed only
	// where rootfsPropagation makes "/" shared.
	RootfsParent string
	// Kcore: the host has /proc/kcore (then /dev/core links to it).
	Kcore bool
	// CreateState is the state JSON the createContainer hooks read, and
	// Umask the one they run with (the runtime's: the steps before them
	// run with 0).
	CreateState []byte
	Umask       uint32
}

// Rootfs compiles the steps that build the container's root filesystem in
// its init, the order and the words of libcontainer/rootfs (Prepare,
// Pivot, Finalize), then its namespaces' kernel state. The steps end with
// the init in the container's root; plan.Process's steps follow.
//
// What these steps cannot express yet, Rootfs refuses with why != "": the
// caller then starts the Go half of the init (init_linux.go), which does
// it all. That is --no-pivot, no mount namespace, the overlay rootfs,
// idmapped mounts the parent does not make (without a user namespace), a
// cgroup v1 mount without a cgroup namespace, and anything the Go init
// would refuse (its words are the ones to show).
func Rootfs(in RootfsInput) (p *Plan, why string) {
	if why := goInitNeeded(in); why != "" {
		return nil, why
	}
	p = &Plan{}
	// Opened first, detached: sysctls and the exec fifo go through it,
	// not through whatever the container mounts on /proc.
	p.add(OpProcfs, "private procfs", I(-1))
	if len(in.ParentTrees) > 0 {
		p.add(OpReceiveTrees, "the parent's mount trees", I(len(in.ParentTrees)))
	}
	// Modes in the spec (devices' fileMode, tmpfs mode=) are meant
	// exactly; the process's identity step sets its own umask.
	p.add(OpUmask, "umask", I(0))
	p.isolateRoot(in)
	p.add(OpOpenRoot, "open rootfs", S(in.Rootfs))
	devReadonly, why := p.mounts(in)
	if why != "" {
		return nil, why
	}
	if why := p.dev(in); why != "" {
		return nil, why
	}
	if devReadonly {
		p.add(OpSetAttr, "mount on /dev: make it read-only", S("/dev"), I(unix.MOUNT_ATTR_RDONLY), I(0), I(0))
	}
	if why := p.createHooks(in); why != "" {
		return nil, why
	}
	p.add(OpPivot, "pivot_root", S(in.Rootfs))
	p.add(OpOpenRoot, "open /", S("/"))
	p.finalize(in)
	p.add(OpCloseRoot, "close the rootfs fds")
	p.kernelState(in)
	return p, ""
}

// mounts compiles spec.Mounts in order, with the wait for the cgroups (and
// the cgroup namespace) before the first cgroup mount, or after the last
// mount: a cgroup mount shows the cgroups the process is in, and the
// mounts before overlap the parent's move.
func (p *Plan) mounts(in RootfsInput) (devReadonly bool, why string) {
	placed := false
	place := func() {
		if placed {
			return
		}
		placed = true
		p.add(OpAwaitPlacement, "cgroups")
		if in.NewCgroupNS {
			p.add(OpUnshare, "linux.namespaces: create cgroup namespace", I(unix.CLONE_NEWCGROUP))
		}
	}
	for i, m := range in.Spec.Mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			place()
		}
		ro, why := p.mount(in, i, m)
		if why != "" {
			return false, why
		}
		devReadonly = devReadonly || ro
	}
	place()
	return devReadonly, ""
}

// createHooks: prestart and createRuntime hooks run in the runtime's
// namespaces (the parent, on the runtime-hooks step), createContainer ones
// here, with the runtime's umask; all see the finished mounts, before
// pivot_root.
func (p *Plan) createHooks(in RootfsInput) string {
	if needsRuntimeHooks(in.Spec) {
		p.add(OpRuntimeHooks, "hooks")
	}
	if h := in.Spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		p.add(OpUmask, "umask", I(in.Umask))
		if err := p.hooks("createContainer", h.CreateContainer, in.CreateState); err != nil {
			return "a createContainer hook to refuse"
		}
	}
	return ""
}

func goInitNeeded(in RootfsInput) string {
	s := in.Spec
	switch {
	case in.NoPivot:
		return "--no-pivot"
	case !hasNamespace(s, specs.MountNamespace):
		return "no mount namespace"
	case joinedNamespace(s, specs.MountNamespace):
		return "a joined mount namespace"
	}
	if ov, err := specconv.ParseOverlay(s); ov != nil || err != nil {
		return "the overlay rootfs annotation"
	}
	if s.Linux != nil {
		if _, err := rootfs.PropagationFlag(s.Linux.RootfsPropagation); s.Linux.RootfsPropagation != "" && err != nil {
			return "a rootfsPropagation to refuse"
		}
	}
	return ""
}

// isolateRoot: the new mount namespace's "/" made rslave (or the
// rootfsPropagation value, recursively), so that nothing mounted here
// reaches the host; then the rootfs bound onto itself, as pivot_root needs
// the new root to be a mount point. Unbindable waits for the new root
// alone (finalize): on "/" now it would forbid the binds still to come.
func (p *Plan) isolateRoot(in RootfsInput) {
	flag := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if l := in.Spec.Linux; l != nil && l.RootfsPropagation != "" {
		f, _ := rootfs.PropagationFlag(l.RootfsPropagation)
		if f&unix.MS_UNBINDABLE == 0 {
			flag = f | unix.MS_REC
		}
	}
	p.add(OpMountPath, "set propagation of / (linux.rootfsPropagation)", S(""), S("/"), S(""), I(flag), S(""))
	if flag&unix.MS_SHARED != 0 {
		// The mount holding the rootfs is now shared too: pivot_root
		// refuses that, and the bind below would propagate.
		p.add(OpMountPath, fmt.Sprintf("make %s (the mount holding the rootfs) private", in.RootfsParent), S(""), S(in.RootfsParent), S(""), I(unix.MS_PRIVATE), S(""))
	}
	p.add(OpMountPath, fmt.Sprintf("bind rootfs %q onto itself", in.Rootfs), S(in.Rootfs), S(in.Rootfs), S(""), I(unix.MS_BIND|unix.MS_REC), S(""))
}

// mount compiles spec.Mounts[i]; devReadonly reports a read-only /dev
// mounted writable until its device nodes exist, as runc does.
func (p *Plan) mount(in RootfsInput, i int, spec specs.Mount) (devReadonly bool, why string) {
	sm, err := rootfs.ResolveMount(spec, func() bool { return in.PureCgroup2 })
	if err != nil {
		return false, "a mount to refuse"
	}
	m, opts, bind := sm.Mount, sm.Opts, sm.Bind
	fromParent := slices.Contains(in.ParentTrees, i)
	if opts.IDMap && !fromParent {
		return false, "an idmapped mount"
	}
	what := fmt.Sprintf("mounts[%d]: destination %q", i, m.Destination)
	switch {
	case opts.Flags&unix.MS_REMOUNT != 0:
		p.add(OpMount, what, S(m.Destination), I(TargetExisting), S(""), S(""), I(opts.Flags), S(opts.Data), S(""), I(0), I(0), I(0))
		p.setMountAttrs(what, m.Destination, opts)
	case bind && fromParent:
		p.add(OpAttachTree, what, I(i), S(m.Destination))
		p.propagation(what, m.Destination, opts)
	case bind:
		attr, rec := opts.PerMountAttrs(), opts.RecAttr
		p.add(OpBind, what, S(rootfs.BindSource(in.Bundle, m.Source)), I(boolInt(opts.Flags&unix.MS_REC != 0)),
			I(attr.Attr_set), I(attr.Attr_clr), I(rec.Attr_set), I(rec.Attr_clr), S(m.Destination))
		p.propagation(what, m.Destination, opts)
	case m.Type == "cgroup":
		if !hasNamespace(in.Spec, specs.CgroupNamespace) {
			return false, "a cgroup v1 mount without a cgroup namespace"
		}
		p.cgroupV1(in, what, m, opts)
	default:
		kind := TargetDir
		if m.Type == "proc" || m.Type == "sysfs" {
			kind = TargetPlainDir
		}
		fallback, why := userNSFallback(in, m.Type)
		if why != "" {
			return false, why
		}
		attr := opts.PerMountAttrs()
		p.add(OpMount, what, S(m.Destination), I(kind), S(m.Source), S(m.Type), I(opts.Flags), S(opts.Data),
			S(fallback), I(attr.Attr_set), I(attr.Attr_clr), I(boolInt(opts.TmpCopyUp)))
		p.setMountAttrs(what, m.Destination, opts)
	}
	return sm.DevReadonly, ""
}

// userNSFallback is the host path bound instead of a fresh mount that a
// user namespace may not make (rootfs.UserNSFallback); for cgroup2, which
// needs the cgroup namespace's owner, the container's own cgroup, showing
// nothing above it.
func userNSFallback(in RootfsInput, fstype string) (fallback, why string) {
	switch {
	case !in.InUserNS:
		return "", ""
	case fstype != "cgroup2":
		host, _ := rootfs.UserNSFallback(fstype)
		return host, ""
	case in.Cgroup2Dir == "":
		return "", "a cgroup2 mount in a user namespace, the container's cgroup2 directory unknown"
	}
	return in.Cgroup2Dir, ""
}

// cgroupV1 is a "cgroup" mount on a v1 or hybrid host, as runc makes it: a
// tmpfs holding one directory per hierarchy, each a fresh mount that the
// cgroup namespace roots at the container's cgroup, and a link by each
// controller's name to a co-mounted one ("cpu" -> "cpu,cpuacct").
func (p *Plan) cgroupV1(in RootfsInput, what string, m specs.Mount, opts rootfs.MountOptions) {
	// The tmpfs stays writable until its directories exist.
	p.add(OpMount, what, S(m.Destination), I(TargetDir), S("tmpfs"), S("tmpfs"), I(opts.Flags&^(unix.MS_RDONLY|unix.MS_REMOUNT)), S("mode=755"), S(""), I(0), I(0), I(0))
	for _, h := range in.Hierarchies {
		hw := fmt.Sprintf("%s: cgroup hierarchy %s", what, h.Name)
		p.add(OpMount, hw, S(filepath.Join(m.Destination, h.Name)), I(TargetDir), S("cgroup"), S(h.FSType), I(opts.Flags&^unix.MS_REMOUNT), S(h.Data), S(""), I(0), I(0), I(0))
		if controllers := strings.Split(h.Name, ","); len(controllers) > 1 {
			for _, c := range controllers {
				p.add(OpSymlink, hw, S(m.Destination), S(c), S(h.Name), I(0))
			}
		}
	}
	if opts.Flags&unix.MS_RDONLY != 0 {
		p.add(OpSetAttr, what+": make cgroup tmpfs read-only", S(m.Destination), I(unix.MOUNT_ATTR_RDONLY), I(0), I(0))
	}
	p.setMountAttrs(what, m.Destination, opts)
}

// setMountAttrs: the r* attributes, then the propagation options.
func (p *Plan) setMountAttrs(what, dest string, opts rootfs.MountOptions) {
	p.setAttr(what, dest, opts.RecAttr, opts.Propagation)
}

// propagation: a bind's propagation options, once it is attached (a
// detached tree has no peers; its r* attributes were set before).
func (p *Plan) propagation(what, dest string, opts rootfs.MountOptions) {
	p.setAttr(what, dest, unix.MountAttr{}, opts.Propagation)
}

// setAttr sets recursive mount attributes and then propagation on the mount
// at dest, if there are any.
func (p *Plan) setAttr(what, dest string, rec unix.MountAttr, props []uintptr) {
	if rec == (unix.MountAttr{}) && len(props) == 0 {
		return
	}
	recursive := 0
	if rec != (unix.MountAttr{}) {
		recursive = 1
	}
	args := []Arg{S(dest), I(rec.Attr_set), I(rec.Attr_clr), I(recursive)}
	for _, prop := range props {
		args = append(args, I(prop))
	}
	p.add(OpSetAttr, what, args...)
}

// dev populates /dev: the default devices the spec does not override,
// linux.devices, the standard symlinks and /dev/ptmx. A /dev bound from
// elsewhere is taken as it is, as runc does.
func (p *Plan) dev(in RootfsInput) string {
	if rootfs.DevIsBound(in.Spec) {
		return ""
	}
	for _, d := range rootfs.Devices(in.Spec) {
		if !p.device(in, d.What, d.LinuxDevice) {
			return "a device to refuse"
		}
	}
	for _, l := range rootfs.DevLinks(in.Kcore) {
		// An existing entry is the image's choice; keep it.
		p.add(OpSymlink, fmt.Sprintf("symlink /dev/%s -> %s", l[0], l[1]), S("/dev"), S(l[0]), S(l[1]), I(0))
	}
	// The devpts instance on /dev/pts (newinstance) has its own ptmx;
	// /dev/ptmx must lead there, not to a host-wide node.
	p.add(OpSymlink, "symlink /dev/ptmx -> pts/ptmx", S("/dev"), S("ptmx"), S("pts/ptmx"), I(1))
	return ""
}

// device makes a node, replacing whatever non-directory is at its path;
// in a user namespace, where mknod is refused, it binds the host's node at
// the same path (its owner and mode stay the host's).
func (p *Plan) device(in RootfsInput, what string, d specs.LinuxDevice) bool {
	if in.InUserNS {
		p.add(OpBind, what+": bind host device (user namespace)", S(d.Path), I(0), I(0), I(0), I(0), I(0), S(d.Path))
		return true
	}
	mode, err := rootfs.NodeMode(d)
	if err != nil {
		return false
	}
	var uid, gid uint32
	if d.UID != nil {
		uid = *d.UID
	}
	if d.GID != nil {
		gid = *d.GID
	}
	p.add(OpMknod, what, S(d.Path), I(mode), I(unix.Mkdev(uint32(d.Major), uint32(d.Minor))), I(uid), I(gid))
	return true
}

// finalize runs in the container's root: masked paths, read-only paths,
// stdio on the container's /dev/null (after the masked paths, whose check
// of /dev/null names the field that needs it), root.readonly (the root
// mount only), and the rootfsPropagation the new root mount asks for.
func (p *Plan) finalize(in RootfsInput) {
	l := in.Spec.Linux
	if l != nil {
		for i, path := range l.MaskedPaths {
			p.add(OpMask, fmt.Sprintf("maskedPaths[%d] %q", i, path), S(path))
		}
		for i, path := range l.ReadonlyPaths {
			p.add(OpReadonly, fmt.Sprintf("readonlyPaths[%d] %q", i, path), S(path))
		}
	}
	p.add(OpStdioNull, "stdio")
	if in.Spec.Root != nil && in.Spec.Root.Readonly {
		p.add(OpSetAttr, "root.readonly: remount / read-only", S("/"), I(unix.MOUNT_ATTR_RDONLY), I(0), I(0))
	}
	if l != nil && l.RootfsPropagation != "" {
		flag, _ := rootfs.PropagationFlag(l.RootfsPropagation)
		p.add(OpMountPath, fmt.Sprintf("linux.rootfsPropagation %q", l.RootfsPropagation), S(""), S("/"), S(""), I(flag), S(""))
	}
}

// kernelState: linux.sysctl, hostname, domainname and the session keyring,
// state of the container's own namespaces, set while still privileged.
func (p *Plan) kernelState(in RootfsInput) {
	s := in.Spec
	if s.Linux != nil {
		keys := make([]string, 0, len(s.Linux.Sysctl))
		for k := range s.Linux.Sysctl {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p.add(OpWriteProc, fmt.Sprintf("linux.sysctl %q", k), S("sys/"+strings.ReplaceAll(k, ".", "/")), S(s.Linux.Sysctl[k]))
		}
	}
	if s.Hostname != "" {
		p.add(OpSetHostname, fmt.Sprintf("hostname %q", s.Hostname), I(0), S(s.Hostname))
	}
	if s.Domainname != "" {
		p.add(OpSetHostname, fmt.Sprintf("domainname %q", s.Domainname), I(1), S(s.Domainname))
	}
	if !in.NoNewKeyring {
		p.add(OpSessionKeyring, "join a new session keyring", S("_ses."+in.ID))
	}
}

func needsRuntimeHooks(s *specs.Spec) bool {
	h := s.Hooks
	return h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0)
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	_, ok := specconv.FindNamespace(s, t)
	return ok
}

func joinedNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	ns, ok := specconv.FindNamespace(s, t)
	return ok && ns.Path != ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostCgroupRoot is where the host's hierarchies are found; cgroup
// filesystems mounted elsewhere (a tool's temporary hugetlb mount) are
// not the host's layout and are ignored.
const hostCgroupRoot = "/sys/fs/cgroup"

// hierarchy is one cgroup filesystem mounted under /sys/fs/cgroup.
type hierarchy struct {
	name    string // directory under /sys/fs/cgroup: "memory", "cpu,cpuacct", "systemd", "unified"
	fstype  string // cgroup or cgroup2
	data    string // mount data for a fresh mount: "memory", "name=systemd"...
	hostDir string // this process's cgroup in the hierarchy, as a host path
}

// mountCgroupV1 handles a `type: cgroup` mount the way runc does on a v1
// or hybrid host: a tmpfs at the destination holding one directory per
// hierarchy. With a cgroup namespace each hierarchy is mounted fresh (the
// kernel roots it at the namespace's cgroup); without one, the process's
// own cgroup directory is bound from the host, so the container sees its
// cgroup and nothing above it. The init must already be in its cgroups.
func (p *preparer) mountCgroupV1(m specs.Mount, opts MountOptions) error {
	ns := p.hasCgroupNS()
	hierarchies, err := hostHierarchies(!ns)
	if err != nil {
		return err
	}
	target, err := p.root.mkdirTarget(m.Destination)
	if err != nil {
		return err
	}
	defer target.Close()
	// The tmpfs stays writable until its directories exist.
	flags := opts.Flags &^ (unix.MS_RDONLY | unix.MS_REMOUNT)
	if err := unix.Mount("tmpfs", fdPath(target), "tmpfs", flags, "mode=755"); err != nil {
		return fmt.Errorf("mount tmpfs for cgroup: %w", err)
	}
	top, err := p.root.open(m.Destination)
	if err != nil {
		return err
	}
	defer top.Close()

	for _, h := range hierarchies {
		if err := p.mountHierarchy(top, h, opts, ns); err != nil {
			return fmt.Errorf("cgroup hierarchy %s: %w", h.name, err)
		}
	}
	if opts.Flags&unix.MS_RDONLY != 0 {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(int(top.Fd()), "", unix.AT_EMPTY_PATH, &attr); err != nil {
			return fmt.Errorf("make cgroup tmpfs read-only: %w", err)
		}
	}
	return setMountAttrs(top, opts)
}

func (p *preparer) mountHierarchy(top *os.File, h hierarchy, opts MountOptions, ns bool) error {
	dir, err := pathrs.MkdirAllHandle(top, h.name, 0o755)
	if err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	defer dir.Close()
	if ns {
		if err := unix.Mount("cgroup", fdPath(dir), h.fstype, opts.Flags&^unix.MS_REMOUNT, h.data); err != nil {
			return fmt.Errorf("mount %s -o %s: %w", h.fstype, h.data, err)
		}
	} else {
		fd, err := unix.OpenTree(unix.AT_FDCWD, h.hostDir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("bind %s: open_tree: %w", h.hostDir, err)
		}
		tree := os.NewFile(uintptr(fd), h.hostDir)
		defer tree.Close()
		if attr := opts.PerMountAttrs(); attr != (unix.MountAttr{}) {
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
				return fmt.Errorf("set mount flags: %w", err)
			}
		}
		if err := attach(tree, dir); err != nil {
			return err
		}
	}
	// Co-mounted controllers ("cpu,cpuacct") are also reachable by each
	// controller's name, as on the host.
	if controllers := strings.Split(h.name, ","); len(controllers) > 1 {
		for _, c := range controllers {
			if err := unix.Symlinkat(h.name, int(top.Fd()), c); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("symlink %s -> %s: %w", c, h.name, err)
			}
		}
	}
	return nil
}

func (p *preparer) hasCgroupNS() bool {
	if p.c.Spec.Linux == nil {
		return false
	}
	for _, ns := range p.c.Spec.Linux.Namespaces {
		if ns.Type == specs.CgroupNamespace {
			return true
		}
	}
	return false
}

// hostHierarchies lists the cgroup filesystems mounted directly under
// /sys/fs/cgroup, with this process's cgroup in each as a host path when
// withHostDir (in a cgroup namespace those paths are namespace-relative
// and not needed).
func hostHierarchies(withHostDir bool) ([]hierarchy, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	paths, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	var out []hierarchy
	seen := map[string]bool{}
	for _, m := range mounts {
		if filepath.Dir(m.Mountpoint) != hostCgroupRoot || seen[m.Mountpoint] {
			continue
		}
		seen[m.Mountpoint] = true
		var data []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if o != "rw" && o != "ro" {
				data = append(data, o)
			}
		}
		key := "" // cgroup2's line in /proc/self/cgroup has no controllers
		if m.FSType == "cgroup" {
			key = v1Key(data)
		}
		own, ok := paths[key]
		if !ok {
			continue // a hierarchy this process is not in (another namespace's)
		}
		h := hierarchy{name: filepath.Base(m.Mountpoint), fstype: m.FSType, data: strings.Join(data, ",")}
		if withHostDir {
			if h.hostDir, err = hostDirOf(m, own); err != nil {
				return nil, err
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// hostDirOf is the host path of cgroup own in the hierarchy mounted by m.
func hostDirOf(m *mountinfo.Info, own string) (string, error) {
	rel, err := filepath.Rel(m.Root, own)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("cgroup %s of this process is outside the hierarchy mounted at %s (root %s)", own, m.Mountpoint, m.Root)
	}
	return filepath.Join(m.Mountpoint, rel), nil
}

// ownCgroup2Dir is the host path of this process's cgroup v2, for a user
// namespace that may not mount cgroup2 itself (no cgroup namespace):
// binding it shows the container its own cgroup and nothing above.
func ownCgroup2Dir() (string, error) {
	paths, err := ownCgroups()
	if err != nil {
		return "", err
	}
	own, ok := paths[""]
	if !ok {
		return "", errors.New("/proc/self/cgroup has no cgroup v2 entry")
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	for _, m := range mounts {
		// Pure v2 hosts mount it on /sys/fs/cgroup, hybrid ones below.
		if m.Mountpoint == hostCgroupRoot || filepath.Dir(m.Mountpoint) == hostCgroupRoot {
			return hostDirOf(m, own)
		}
	}
	return "", errors.New("no cgroup2 filesystem mounted at or below " + hostCgroupRoot)
}

// ownCgroups reads /proc/self/cgroup: controller list (v1Key form) -> path.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("/proc/self/cgroup: unexpected line %q", s.Text())
		}
		out[v1Key(strings.Split(parts[1], ","))] = parts[2]
	}
	return out, s.Err()
}

// v1Key identifies a v1 hierarchy by its controllers and name=, sorted,
// ignoring other mount options (xattr, clone_children...).
func v1Key(opts []string) string {
	var keep []string
	for _, o := range opts {
		if o == "" {
			continue
		}
		if strings.HasPrefix(o, "name=") || slices.Contains(controllers, o) {
			keep = append(keep, o)
		}
	}
	sort.Strings(keep)
	return strings.Join(keep, ",")
}

// controllers are the cgroup v1 controllers; a slice, not a map, so that no
// package initialiser builds it at every strata start.
var controllers = []string{
	"cpu", "cpuacct", "cpuset", "memory", "devices",
	"freezer", "net_cls", "net_prio", "blkio", "perf_event",
	"hugetlb", "pids", "rdma", "misc", "debug",
}

// Hierarchy is one cgroup filesystem under /sys/fs/cgroup, as a fresh
// mount of it in a cgroup namespace needs it (see mountCgroupV1).
type Hierarchy struct {
	Name   string // directory under /sys/fs/cgroup: "memory", "cpu,cpuacct"
	FSType string // cgroup or cgroup2
	Data   string // mount data: "memory", "name=systemd"...
}

// HostHierarchies lists the host's hierarchies this process is in, for a
// plan compiled in the runtime's parent (libcontainer/plan's Rootfs).
func HostHierarchies() ([]Hierarchy, error) {
	hs, err := hostHierarchies(false)
	if err != nil {
		return nil, err
	}
	out := make([]Hierarchy, len(hs))
	for i, h := range hs {
		out[i] = Hierarchy{Name: h.name, FSType: h.fstype, Data: h.data}
	}
	return out, nil
}

// OwnCgroup2Dir is the host path of this process's cgroup2 directory.
func OwnCgroup2Dir() (string, error) { return ownCgroup2Dir() }

// PureCgroup2 says whether the host's /sys/fs/cgroup is itself cgroup2.
func PureCgroup2() bool { return pureCgroup2() }

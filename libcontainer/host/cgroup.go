package host

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The cgroup layouts a host can have.
const (
	CgroupNone    = "none"    // no cgroup filesystem at /sys/fs/cgroup
	CgroupV1      = "v1"      // v1 hierarchies only
	CgroupHybrid  = "hybrid"  // v1 hierarchies, and cgroup2 at /sys/fs/cgroup/unified
	CgroupUnified = "unified" // cgroup2 at /sys/fs/cgroup
)

const cgroupRoot = "/sys/fs/cgroup"

// Cgroups is the cgroup layout of the host.
type Cgroups struct {
	Mode string `json:"mode"`
	// V2Root is where the cgroup2 hierarchy is mounted ("" if nowhere);
	// its controllers and subtree_control are the root's files.
	V2Root           string   `json:"v2Root,omitempty"`
	V2Controllers    []string `json:"v2Controllers,omitempty"`
	V2SubtreeControl []string `json:"v2SubtreeControl,omitempty"`
	// V2Writable: the v2 root can be written (not a read-only mount).
	V2Writable bool `json:"v2Writable,omitempty"`
	// V1 lists the mounted v1 hierarchies.
	V1 []V1Hierarchy `json:"v1,omitempty"`
	// Reason says why the mode was decided so when it is none.
	Reason string `json:"reason,omitempty"`
}

// A V1Hierarchy is one mounted cgroup v1 hierarchy.
type V1Hierarchy struct {
	Mountpoint  string   `json:"mountpoint"`
	Controllers []string `json:"controllers"` // "name=systemd" for a named one
}

// HasV1 tells whether any v1 hierarchy is mounted.
func (c Cgroups) HasV1() bool { return len(c.V1) > 0 }

// HasV2 tells whether a cgroup2 hierarchy is mounted.
func (c Cgroups) HasV2() bool { return c.V2Root != "" }

// ProbeCgroups reads the layout: statfs of /sys/fs/cgroup and of
// /sys/fs/cgroup/unified decide the mode (as opencontainers/cgroups does),
// the mount table lists the v1 hierarchies.
func ProbeCgroups() Cgroups {
	var c Cgroups
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		c.Mode, c.Reason = CgroupNone, "statfs "+cgroupRoot+": "+errnoName(err)
		return c
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		c.Mode, c.V2Root = CgroupUnified, cgroupRoot
	} else {
		unified := filepath.Join(cgroupRoot, "unified")
		if unix.Statfs(unified, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			c.V2Root = unified
		}
		c.V1 = V1Hierarchies()
		switch {
		case len(c.V1) > 0 && c.V2Root != "":
			c.Mode = CgroupHybrid
		case len(c.V1) > 0:
			c.Mode = CgroupV1
		case c.V2Root != "":
			// cgroup2 only at unified, nothing on v1: v2 in all but name.
			c.Mode = CgroupHybrid
		default:
			c.Mode, c.Reason = CgroupNone, "no cgroup or cgroup2 filesystem mounted under "+cgroupRoot
		}
	}
	if c.V2Root != "" {
		c.V2Controllers = readFields(filepath.Join(c.V2Root, "cgroup.controllers"))
		c.V2SubtreeControl = readFields(filepath.Join(c.V2Root, "cgroup.subtree_control"))
		c.V2Writable = unix.Access(c.V2Root, unix.W_OK) == nil
	}
	return c
}

// V1Hierarchies lists the cgroup v1 mounts under /sys/fs/cgroup, one per
// hierarchy (a hierarchy bound twice is listed once).
func V1Hierarchies() []V1Hierarchy {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var l []V1Hierarchy
	for _, m := range mounts {
		if !strings.HasPrefix(m.Mountpoint, cgroupRoot+"/") {
			continue
		}
		var ctrls []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			switch {
			case o == "rw" || o == "ro" || o == "" || o == "xattr" || o == "noprefix" ||
				o == "clone_children" || o == "cpuset_v2_mode" || o == "favordynmods" ||
				strings.HasPrefix(o, "release_agent="):
			default:
				ctrls = append(ctrls, o)
			}
		}
		sort.Strings(ctrls)
		key := strings.Join(ctrls, ",")
		if seen[key] {
			continue
		}
		seen[key] = true
		l = append(l, V1Hierarchy{Mountpoint: m.Mountpoint, Controllers: ctrls})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Mountpoint < l[j].Mountpoint })
	return l
}

func readFields(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

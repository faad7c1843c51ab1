package cgroups

import (
	"path/filepath"
	"slices"

	cg "github.com/opencontainers/cgroups"
	"github.com/strata-runtime/strata/libcontainer/host"
)

// v1Subsystems are the hierarchies the library's cgroupfs manager makes a
// directory in, by the names it keys its paths with.
var v1Subsystems = []string{
	"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio",
	"hugetlb", "net_cls", "net_prio", "perf_event", "freezer", "rdma",
	"name=systemd", "misc",
}

// v1Paths finds a container's v1 cgroup directories as the library's
// cgroupfs manager would, from one read of mountinfo; nil leaves the
// finding to the library.
//
// Why not let the library: it looks for each hierarchy by statfs and lstat
// of /sys/fs/cgroup/<name> (four calls per name, fifteen names), and when
// the first entry of /sys/fs/cgroup is not a v1 hierarchy (a hybrid
// host's "unified" often is), it works out the root from a second parse of
// mountinfo and of /proc/self/cgroup. On the 6.18 test VM that was 6% of a
// `run`'s CLI CPU (perf record, 50 runs), every create on a v1 host. A
// program that only calls New, run 300 times: 371 syscalls and a median
// 2.8 ms of CPU with the library's search, 249 and 2.2 ms with this one.
//
// Only an absolute cgroupsPath is found here: a relative one is below the
// caller's own cgroup in each hierarchy, which the library reads from
// /proc/self/cgroup. TestV1PathsAsLibrary compares the two.
func v1Paths(cfg *cg.Cgroup) map[string]string {
	if cfg.Systemd || !filepath.IsAbs(cfg.Path) || cg.IsCgroup2UnifiedMode() {
		return nil
	}
	// As the library, only hierarchies mounted under /sys/fs/cgroup count.
	hs := host.V1Hierarchies()
	paths := map[string]string{}
	for _, name := range v1Subsystems {
		for _, h := range hs {
			if slices.Contains(h.Controllers, name) {
				paths[name] = filepath.Join(h.Mountpoint, cfg.Path)
				break
			}
		}
	}
	if _, ok := paths["devices"]; !ok {
		// The library refuses to go on without it; let it say so.
		return nil
	}
	if cg.IsCgroup2HybridMode() {
		paths[""] = filepath.Join("/sys/fs/cgroup/unified", cfg.Path)
	}
	return paths
}

//go:build cri

package cri

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-runtime/strata/tests/cgroupfs"
)

// cgroupTree reserves the cgroup top (such as /strata-cri-1) in every
// hierarchy for the test: it must not exist yet, and it is removed at the
// end with everything below it (killing what still runs there).
func cgroupTree(t *testing.T, top string) {
	t.Helper()
	for _, h := range cgroupfs.Hierarchies() {
		if _, err := os.Stat(filepath.Join(h, top)); err == nil {
			t.Fatalf("cgroup %s already exists: not the test's to use", filepath.Join(h, top))
		}
	}
	t.Cleanup(func() {
		for _, h := range cgroupfs.Hierarchies() {
			if left := cgroupfs.RemoveTree(filepath.Join(h, top)); len(left) > 0 {
				t.Errorf("cgroups left behind: %v", left)
			}
		}
	})
}

// makeCgroup makes the cgroup path (absolute, below a cgroupTree) in every
// hierarchy, as the kubelet makes a pod's, and returns its cgroup.procs
// files.
func makeCgroup(t *testing.T, path string) []string {
	t.Helper()
	var procs []string
	for _, h := range cgroupfs.Hierarchies() {
		dir := h
		for _, part := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); errors.Is(err, fs.ErrExist) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			// A v1 cpuset cgroup starts with no CPUs and no memory nodes,
			// and takes no process until it has both. (On v2 a cgroup
			// has cpuset files only once its parent enables the
			// controller, and inherits the parent's sets.)
			if cgroupV2() {
				continue
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if v, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	return procs
}

// cgroupsBelow lists the cgroup directories strictly below path in every
// hierarchy.
func cgroupsBelow(path string) []string {
	var found []string
	for _, h := range cgroupfs.Hierarchies() {
		top := filepath.Join(h, path)
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != top {
				found = append(found, p)
			}
			return nil
		})
	}
	return found
}

// requireMountedHierarchies fails the test if a cgroup v1 hierarchy this
// process belongs to is mounted nowhere in its mount namespace (one mounted
// for a while and unmounted while cgroups remained in it, as a v1 hugetlb
// hierarchy mounted for crun can be): containerd's shim then cannot load a
// container's cgroups ("cannot find cgroup mount destination") and loses
// its OOM events and stats, whatever the runtime.
func requireMountedHierarchies(t *testing.T) {
	t.Helper()
	mounted := map[string]bool{}
	info, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(info), "\n") {
		_, after, ok := strings.Cut(line, " - ")
		if f := strings.Fields(after); ok && len(f) == 3 && f[0] == "cgroup" {
			for _, opt := range strings.Split(f[2], ",") {
				mounted[opt] = true
			}
		}
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[1] == "" {
			continue // cgroup v2
		}
		for _, ctrl := range strings.Split(f[1], ",") {
			if !mounted[ctrl] {
				t.Fatalf("cgroup v1 hierarchy %s (%q in /proc/self/cgroup) is mounted nowhere here: containerd's shim "+
					"could load no container's cgroups (OOM events and stats lost with any runtime). Something left cgroups "+
					"in a hierarchy it unmounted; see /proc/cgroups", f[1], line)
			}
		}
	}
}

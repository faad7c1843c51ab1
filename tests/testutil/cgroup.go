package testutil

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// cgroupDirs lists the container's cgroup directory in every hierarchy that
// has one.
func cgroupDirs(id string) []string {
	var dirs []string
	for _, h := range cgroupfs.Hierarchies() {
		d := filepath.Join(h, CgroupParent, id)
		if _, err := os.Stat(d); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// removeCgroups removes the cgroups a runtime made for container id, killing
// whatever still runs in them: they are the test's, nobody else's. Children go
// before parents: rmdir only removes empty cgroups.
func removeCgroups(t testing.TB, id string) {
	for _, dir := range cgroupDirs(id) {
		var tree []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				tree = append(tree, p)
			}
			return nil
		})
		for i := len(tree) - 1; i >= 0; i-- {
			if err := cgroupfs.Rmdir(tree[i]); err != nil {
				t.Errorf("removing cgroup %s: %v", tree[i], err)
			}
		}
	}
}

// removeCgroupParents removes CgroupParent where it is empty; another test
// binary running at the same time may still use it, so failure is not an error.
func removeCgroupParents() {
	for _, h := range cgroupfs.Hierarchies() {
		syscall.Rmdir(filepath.Join(h, CgroupParent))
	}
}

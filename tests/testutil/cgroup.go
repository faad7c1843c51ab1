package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hierarchies lists the mounted cgroup hierarchies: /sys/fs/cgroup itself on a
// cgroup v2 host, else its subdirectories that are cgroup mounts (each v1
// controller, and the v2 tree at unified/ on a hybrid host).
func hierarchies() []string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{"/sys/fs/cgroup"}
	}
	subdirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	var hs []string
	for _, d := range subdirs {
		if unix.Statfs(d, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			hs = append(hs, d)
		}
	}
	return hs
}

// cgroupDirs lists the container's cgroup directory in every hierarchy that
// has one.
func cgroupDirs(id string) []string {
	var dirs []string
	for _, h := range hierarchies() {
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
			if err := rmdirCgroup(tree[i]); err != nil {
				t.Errorf("removing cgroup %s: %v", tree[i], err)
			}
		}
	}
}

func rmdirCgroup(dir string) error {
	var err error
	for range 50 {
		if err = syscall.Rmdir(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		for _, pid := range cgroupPids(dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func cgroupPids(dir string) []int {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeCgroupParents removes CgroupParent where it is empty; another test
// binary running at the same time may still use it, so failure is not an error.
func removeCgroupParents() {
	for _, h := range hierarchies() {
		syscall.Rmdir(filepath.Join(h, CgroupParent))
	}
}

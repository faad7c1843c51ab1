// Package cgroupfs finds cgroup hierarchies and removes the cgroups a test
// suite's runtime made, for every suite under tests/ (test packages and the
// validation and bench programs alike).
package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Hierarchies lists the mounted cgroup hierarchies: /sys/fs/cgroup itself on
// a cgroup v2 host, else each v1 controller's mount and the v2 tree (unified/)
// below it, each once (cpu may be a symlink to cpu,cpuacct), plus extra
// mounts (the hugetlb hierarchy mounted for crun).
func Hierarchies(extra ...string) []string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return append([]string{"/sys/fs/cgroup"}, extra...)
	}
	subdirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	seen := map[string]bool{}
	var hs []string
	for _, d := range subdirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil || seen[real] {
			continue
		}
		if unix.Statfs(real, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			seen[real] = true
			hs = append(hs, real)
		}
	}
	return append(hs, extra...)
}

// Roots are the places a test's runtime may have made directories: every
// hierarchy in hs, and /sys/fs/cgroup/hugetlb when it is a plain directory
// (crun with the hugetlb hierarchy mounted elsewhere makes its dirs there).
func Roots(hs []string) []string {
	roots := append([]string(nil), hs...)
	var st unix.Statfs_t
	if fi, err := os.Lstat("/sys/fs/cgroup/hugetlb"); err == nil && fi.IsDir() &&
		unix.Statfs("/sys/fs/cgroup/hugetlb", &st) == nil && st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC {
		roots = append(roots, "/sys/fs/cgroup/hugetlb")
	}
	return roots
}

// RemoveTree removes dir and the cgroups below it, children first (rmdir
// only removes empty cgroups), killing what still runs in them: they belong
// to the test, nobody else. It returns what it found and could not remove.
func RemoveTree(dir string) (leftover []string) {
	var tree []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			tree = append(tree, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(tree))) // deepest first
	for _, p := range tree {
		if err := Rmdir(p); err != nil {
			leftover = append(leftover, fmt.Sprintf("%s: %v", p, err))
		}
	}
	return leftover
}

// Rmdir removes one cgroup, killing its processes and retrying while the
// kernel still counts exiting ones in it (about 5 s at most).
func Rmdir(dir string) error {
	var err error
	for range 50 {
		if err = syscall.Rmdir(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		for _, pid := range Pids(dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Pids lists the processes in one cgroup (pid 1 never: not ours to kill).
func Pids(dir string) []int {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// MountHugetlbV1 works around crun 1.8 on a hybrid host, which refuses every
// create ("cgroups in hybrid mode not supported") while the hugetlb controller
// sits on cgroup2: it mounts a v1 hugetlb hierarchy in dir. The returned
// function removes the cgroups below parent there and unmounts it.
func MountHugetlbV1(dir, parent string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mount("none", dir, "cgroup", 0, "hugetlb"); err != nil {
		return nil, fmt.Errorf("mount -t cgroup -o hugetlb none %s: %w", dir, err)
	}
	return func() error {
		RemoveTree(filepath.Join(dir, parent))
		return unix.Unmount(dir, unix.MNT_DETACH)
	}, nil
}

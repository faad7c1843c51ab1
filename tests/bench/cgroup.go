package main

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

// The same cgroup sweeping as tests/validation/cgroup.go (both are package
// main, so neither can import the other; testutil's is tied to testing.TB).

// hierarchies lists the mounted cgroup hierarchies: /sys/fs/cgroup itself on
// a cgroup v2 host, else each v1 controller's mount and the v2 tree (unified/)
// below it, each once (cpu may be a symlink to cpu,cpuacct), plus extra
// mounts (the hugetlb hierarchy mounted for crun).
func hierarchies(extra ...string) []string {
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

// removeTree removes dir and the cgroups below it, children first (rmdir
// only removes empty cgroups), killing what still runs in them: they belong
// to the test, nobody else. It returns what it found and could not remove.
func removeTree(dir string) (leftover []string) {
	var tree []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			tree = append(tree, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(tree))) // deepest first
	for _, p := range tree {
		if err := rmdirCgroup(p); err != nil {
			leftover = append(leftover, fmt.Sprintf("%s: %v", p, err))
		}
	}
	return leftover
}

func rmdirCgroup(dir string) error {
	var err error
	for range 30 {
		if err = syscall.Rmdir(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, _ := strconv.Atoi(f); pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// cgroupRoots are the places a test's runtime may have made directories:
// every hierarchy, and /sys/fs/cgroup/hugetlb when it is a plain directory
// (crun with the hugetlb hierarchy mounted elsewhere makes its dirs there).
func cgroupRoots(hs []string) []string {
	roots := append([]string(nil), hs...)
	var st unix.Statfs_t
	if fi, err := os.Lstat("/sys/fs/cgroup/hugetlb"); err == nil && fi.IsDir() &&
		unix.Statfs("/sys/fs/cgroup/hugetlb", &st) == nil && st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC {
		roots = append(roots, "/sys/fs/cgroup/hugetlb")
	}
	return roots
}

// removePlainHugetlb removes /sys/fs/cgroup/hugetlb if it is a plain, now
// empty directory (crun made it while the hierarchy was mounted elsewhere).
func removePlainHugetlb() {
	roots := cgroupRoots(nil)
	if len(roots) == 1 {
		syscall.Rmdir(roots[0])
	}
}

// mountHugetlbV1 works around crun 1.8 on a hybrid host, which refuses every
// create ("cgroups in hybrid mode not supported") while the hugetlb controller
// sits on cgroup2: it mounts a v1 hugetlb hierarchy in dir. The returned
// function unmounts it.
func mountHugetlbV1(dir string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mount("none", dir, "cgroup", 0, "hugetlb"); err != nil {
		return nil, fmt.Errorf("mount -t cgroup -o hugetlb none %s: %w", dir, err)
	}
	return func() error {
		removeTree(filepath.Join(dir, cgroupParent))
		return unix.Unmount(dir, unix.MNT_DETACH)
	}, nil
}

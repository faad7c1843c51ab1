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

// Where the suite's containers' cgroups go.
//
// Most tests leave linux.cgroupsPath empty or relative (runtime-tools'
// RelCgroupPath "testdir/cgrouptest/container"); runc and crun then put the
// container below the caller's own cgroup, which on the CI machine belongs to
// the machine. So each test executable runs in a cgroup of its own,
// /strata-validation/<test>-<pid> in every hierarchy, and everything its
// runtime makes lands below it. The cgroup tests use the fixed absolute path
// runtime-tools' AbsCgroupPath names; both trees are removed after every test
// (tests run one at a time, so the fixed path is never shared).
const (
	cgroupParent  = "strata-validation"
	suiteAbsGroup = "cgrouptest" // runtime-tools cgroups.AbsCgroupPath
)

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

// makeTestCgroups creates /strata-validation/<name> in every hierarchy and
// returns the directories.
func makeTestCgroups(hs []string, name string) ([]string, error) {
	var dirs []string
	for _, h := range hs {
		parent := h
		for _, level := range []string{cgroupParent, name} {
			d := filepath.Join(parent, level)
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return dirs, err
			}
			if err := inheritCpuset(parent, d); err != nil {
				return dirs, err
			}
			parent = d
		}
		dirs = append(dirs, parent)
	}
	return dirs, nil
}

// inheritCpuset gives a new v1 cpuset cgroup its parent's CPUs and memory
// nodes: it starts with none, and no process may join it until it has some.
func inheritCpuset(parent, dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || strings.TrimSpace(string(cur)) != "" {
			continue // not a v1 cpuset hierarchy, or already set
		}
		val, err := os.ReadFile(filepath.Join(parent, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), val, 0); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
		}
	}
	return nil
}

// enterCgroups moves the calling process (all its threads) into dirs.
func enterCgroups(dirs []string) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), pid, 0); err != nil {
			return fmt.Errorf("joining cgroup %s: %w", d, err)
		}
	}
	return nil
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

// cleanupCgroups removes one test's cgroup and the suite's fixed one in every
// place a runtime may have made them; it reports what it could not remove.
// Directories found under the fixed path are reported as well: a runtime's
// delete should have removed them.
func cleanupCgroups(hs []string, name string) (stale, leftover []string) {
	for _, root := range cgroupRoots(hs) {
		leftover = append(leftover, removeTree(filepath.Join(root, cgroupParent, name))...)
		abs := filepath.Join(root, suiteAbsGroup)
		if _, err := os.Stat(abs); err == nil {
			stale = append(stale, abs)
			leftover = append(leftover, removeTree(abs)...)
		}
	}
	return stale, leftover
}

// removeCgroupParent removes the (by now empty) /strata-validation dirs.
func removeCgroupParent(hs []string) {
	roots := cgroupRoots(hs)
	for _, root := range roots {
		syscall.Rmdir(filepath.Join(root, cgroupParent))
	}
	// The plain hugetlb directory crun made, if there is one and it is empty.
	if len(roots) > len(hs) {
		syscall.Rmdir(roots[len(roots)-1])
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

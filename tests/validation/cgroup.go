package main

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

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
// On cgroup v2 an empty cpuset.cpus means the parent's, and the root has
// no such file at all: nothing to do there.
func inheritCpuset(parent, dir string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
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

// cleanupCgroups removes one test's cgroup and the suite's fixed one in every
// place a runtime may have made them; it reports what it could not remove.
// Directories found under the fixed path are reported as well: a runtime's
// delete should have removed them.
func cleanupCgroups(hs []string, name string) (stale, leftover []string) {
	for _, root := range cgroupfs.Roots(hs) {
		leftover = append(leftover, cgroupfs.RemoveTree(filepath.Join(root, cgroupParent, name))...)
		abs := filepath.Join(root, suiteAbsGroup)
		if _, err := os.Stat(abs); err == nil {
			stale = append(stale, abs)
			leftover = append(leftover, cgroupfs.RemoveTree(abs)...)
		}
	}
	return stale, leftover
}

// removeCgroupParent removes the (by now empty) /strata-validation dirs.
func removeCgroupParent(hs []string) {
	roots := cgroupfs.Roots(hs)
	for _, root := range roots {
		syscall.Rmdir(filepath.Join(root, cgroupParent))
	}
	// The plain hugetlb directory crun made, if there is one and it is empty.
	if len(roots) > len(hs) {
		syscall.Rmdir(roots[len(roots)-1])
	}
}

package main

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// removePlainHugetlb removes /sys/fs/cgroup/hugetlb if it is a plain, now
// empty directory (crun made it while the hierarchy was mounted elsewhere).
func removePlainHugetlb() {
	roots := cgroupfs.Roots(nil)
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
		cgroupfs.RemoveTree(filepath.Join(dir, cgroupParent))
		return unix.Unmount(dir, unix.MNT_DETACH)
	}, nil
}

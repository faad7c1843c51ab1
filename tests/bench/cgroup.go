package main

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"syscall"
)

// removePlainHugetlb removes /sys/fs/cgroup/hugetlb if it is a plain, now
// empty directory (crun made it while the hierarchy was mounted elsewhere).
func removePlainHugetlb() {
	roots := cgroupfs.Roots(nil)
	if len(roots) == 1 {
		syscall.Rmdir(roots[0])
	}
}

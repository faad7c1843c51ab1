package integration

import (
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// The process runs in linux.cgroupsPath in every hierarchy (each v1
// controller and the v2 tree), not in the caller's cgroup.
func TestCgroupsPath(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("cat /proc/self/cgroup"))
	out := c.MustRun()
	want := tu.CgroupParent + "/" + c.ID
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !mountedHere(line) {
			// A hierarchy someone mounted elsewhere (crun's benchmarks
			// mount hugetlb in a temporary directory): no runtime can
			// find it to place the container there.
			t.Logf("ignoring %q: its hierarchy is not mounted under /sys/fs/cgroup", line)
			continue
		}
		if !strings.HasSuffix(line, ":"+want) {
			t.Errorf("cgroup line %q is not in %s", line, want)
		}
	}
}

// mountedHere says whether the hierarchy of a /proc/self/cgroup line
// ("4:memory:/path", "9:name=systemd:/path", "0::/path") is mounted under
// /sys/fs/cgroup.
func mountedHere(line string) bool {
	f := strings.SplitN(line, ":", 3)
	if len(f) != 3 {
		return true
	}
	ctrls := strings.TrimPrefix(f[1], "name=")
	if ctrls == "" {
		return fileExists("/sys/fs/cgroup/cgroup.controllers") || fileExists("/sys/fs/cgroup/unified")
	}
	return fileExists("/sys/fs/cgroup/"+ctrls) || fileExists("/sys/fs/cgroup/"+strings.Split(ctrls, ",")[0])
}

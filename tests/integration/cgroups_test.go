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
		if !strings.HasSuffix(line, ":"+want) {
			t.Errorf("cgroup line %q is not in %s", line, want)
		}
	}
}

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
	inCgroupsPath(t, "init", out, tu.CgroupParent+"/"+c.ID)
}

// A process exec'd into the container runs in its cgroup too: on cgroup v2
// born there (clone3 CLONE_INTO_CGROUP), on v1 moved in. The exec joins the
// container's pid namespace, so the process that reports is the child
// nsenter forks (CLONE_PARENT) of the one strata started.
func TestExecInCgroupsPath(t *testing.T) {
	t.Parallel()
	c, _ := runningContainer(t, nil)
	r := tu.Must(t, execIn(c, nil, "cat", "/proc/self/cgroup"))
	inCgroupsPath(t, "exec'd process", r.Stdout, tu.CgroupParent+"/"+c.ID)
	// And so does what it forks.
	r = tu.Must(t, execIn(c, nil, "sh", "-c", "cat /proc/self/cgroup; true"))
	inCgroupsPath(t, "exec'd process's child", r.Stdout, tu.CgroupParent+"/"+c.ID)
}

// inCgroupsPath checks that every line of a /proc/PID/cgroup names want.
func inCgroupsPath(t *testing.T, who, out, want string) {
	t.Helper()
	if strings.TrimSpace(out) == "" {
		t.Fatalf("%s: empty /proc/self/cgroup", who)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !mountedHere(line) {
			// A hierarchy someone mounted elsewhere (crun's benchmarks
			// mount hugetlb in a temporary directory): no runtime can
			// find it to place the container there.
			t.Logf("ignoring %q: its hierarchy is not mounted under /sys/fs/cgroup", line)
			continue
		}
		if !strings.HasSuffix(line, ":"+want) {
			t.Errorf("%s: cgroup line %q is not in %s", who, line, want)
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

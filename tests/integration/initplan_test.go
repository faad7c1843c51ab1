package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestInitPlan: the container's init builds its rootfs from the plan the
// parent compiled, without starting Go (--debug times the executor's
// mount and pivot steps, and no Go-init phase), in a user namespace and
// with a createContainer hook too; what the plan cannot express goes to
// the Go half of the init, which --debug says, with the reason. Either way
// the container is the same.
func TestInitPlan(t *testing.T) {
	t.Parallel()
	tu.StrataOnly(t, "strata's init plan and its --debug lines")
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		flags  []string // of run
		goInit string   // the reason --debug gives, "" for the plan
	}{
		{"default", nil, nil, ""},
		{"userns", withUserns, nil, ""},
		{"createContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, nil, ""},
		{"no-pivot", nil, []string{"--no-pivot"}, "--no-pivot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tu.NewContainer(t, with(sh("grep -c '^[0-9]* [0-9]* [0-9:]* [^ ]* / ' /proc/self/mountinfo; cat /proc/sys/kernel/hostname"), func(s *specs.Spec) {
				s.Hostname = "planned"
				if tc.mutate != nil {
					tc.mutate(s)
				}
			}))
			r := c.Runtime(append(append([]string{"--debug", "run"}, tc.flags...), "--bundle", c.Bundle, c.ID)...)
			if r.Code != 0 || r.Stdout != "1\nplanned\n" {
				t.Fatalf("want one mount on / and the spec's hostname: %s", r)
			}
			planned := strings.Contains(r.Stderr, "plan: pivot (pivot_root) took") &&
				strings.Contains(r.Stderr, `plan: mount (mounts[0]: destination \"/proc\") took`)
			goPhase := strings.Contains(r.Stderr, c.ID+": pivot_root took")
			why := "the Go init builds the rootfs: the plan cannot express " + tc.goInit
			switch {
			case tc.goInit == "" && (!planned || goPhase || strings.Contains(r.Stderr, "the Go init builds")):
				t.Errorf("want the rootfs built by the executor, --debug says:\n%s", r.Stderr)
			case tc.goInit != "" && (planned || !goPhase || !strings.Contains(r.Stderr, why)):
				t.Errorf("want the Go init, with %q, --debug says:\n%s", why, r.Stderr)
			}
		})
	}
}

// TestInitFailureNamesTheField: an init that fails in its mounts, before it
// has read the parent's message that it is in its cgroups, still reports
// why, every time: it exits with that message unread, and the kernel then
// reports ECONNRESET on the parent's socket before the error queued there.
func TestInitFailureNamesTheField(t *testing.T) {
	t.Parallel()
	tu.StrataOnly(t, "strata's words for a failed mount")
	for i := 0; i < 10; i++ {
		c := tu.NewContainer(t, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/nonexistent-bind-source", Options: []string{"rbind"}})
		})
		r := c.Run()
		if want := `mounts[6]: destination "/data": bind source "/nonexistent-bind-source": no such file or directory`; r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Fatalf("run %d: want %q: %s", i, want, r)
		}
	}
}

// Package integration tests the built runtime binary end to end, as root, on
// containers made from the busybox test rootfs. By default it builds strata;
// RUNTIME=/usr/sbin/runc runs the very same tests against runc, which is how
// each test is proven meaningful. Assertions on error message wording apply to
// strata only (testutil.IsStrata); exit statuses and leak checks apply to all.
package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestMain(m *testing.M) { tu.Main(m) }

// sh makes the container's process `sh -c script`.
func sh(script string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", script} }
}

// with applies several spec mutations in order.
func with(fns ...func(*specs.Spec)) func(*specs.Spec) {
	return func(s *specs.Spec) {
		for _, f := range fns {
			f(s)
		}
	}
}

// runOutput runs a container with mutate in the foreground and returns its
// stdout, failing the test unless it exited 0.
func runOutput(t *testing.T, mutate func(*specs.Spec)) string {
	t.Helper()
	return tu.NewContainer(t, mutate).MustRun()
}

// wantErrorText checks, for strata only, that a failed command's stderr names
// what was wrong. Other runtimes word their errors differently.
func wantErrorText(t *testing.T, r tu.Result, substr string) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("expected failure, got success: %s", r)
	}
	if !tu.IsStrata() {
		return
	}
	if !strings.HasPrefix(r.Stderr, "strata: ") && !strings.Contains(r.Stderr, "\nstrata: ") {
		t.Errorf("stderr lacks the \"strata: \" prefix: %q", r.Stderr)
	}
	if !strings.Contains(r.Stderr, substr) {
		t.Errorf("stderr does not mention %q: %q", substr, r.Stderr)
	}
}

// Package integration tests the built runtime binary end to end, as root, on
// containers made from the busybox test rootfs. By default it builds strata;
// RUNTIME=/usr/sbin/runc runs the very same tests against runc, which is how
// each test is proven meaningful. Assertions on error message wording apply to
// strata only (testutil.IsStrata); exit statuses and leak checks apply to all.
package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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

// wantIDOnce checks, for strata only, that stderr names the container once:
// the CLI prefixes an error with the command and the container, and what
// libcontainer says after the prefix names neither.
func wantIDOnce(t *testing.T, r tu.Result, id string) {
	t.Helper()
	if !tu.IsStrata() {
		return
	}
	if n := strings.Count(r.Stderr, strconv.Quote(id)); n > 1 {
		t.Errorf("stderr names container %q %d times: %q", id, n, r.Stderr)
	}
}

// sleeper makes the container's process sleep until killed.
func sleeper(s *specs.Spec) { s.Process.Args = []string{"sleep", "1000"} }

// pidGone waits for a process to disappear (it may take a moment to be reaped).
func pidGone(t *testing.T, pid int) {
	t.Helper()
	for range 100 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// A zombie (state Z) has exited; only its parent's wait is missing.
		if err != nil || strings.Contains(string(data), ") Z ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("process %d still alive", pid)
}

// waitFile waits for a container to write a line to path and returns it.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	for range 200 {
		if data, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(data), "\n") {
			return string(data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never got a line", path)
	return ""
}

// withoutNamespace removes a namespace type from the spec: the container
// shares the runtime's.
func withoutNamespace(typ specs.LinuxNamespaceType) func(*specs.Spec) {
	return func(s *specs.Spec) {
		var kept []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != typ {
				kept = append(kept, ns)
			}
		}
		s.Linux.Namespaces = kept
	}
}

// bindMount adds a bind mount of the host path src at dst in the container.
func bindMount(src, dst string, opts ...string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...)})
	}
}

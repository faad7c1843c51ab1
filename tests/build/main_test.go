// Package build_test runs `strata build` end to end, as root: Containerfiles
// built FROM a busybox-static image the tests write, the results compared
// with buildah's build of the same file, run by podman and by strata, built
// again from the cache, and bad inputs refused with nothing left behind.
package build_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestMain(m *testing.M) {
	tu.MainWithStrata(tu.NeedTools(m, "tests/build", "apt-get install buildah podman umoci skopeo runc", "buildah", "podman", "umoci", "skopeo", "runc"))
}

// result is one strata command's outcome.
type result struct {
	stdout, stderr string
	err            error
}

// strataIn runs strata with TMPDIR set to tmp (where build keeps its
// bundles and container state, so that a test can see it emptied).
func strataIn(tmp string, args ...string) result {
	cmd := exec.Command(tu.StrataPath(), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{stdout.String(), stderr.String(), err}
}

// mustStrata runs strata and fails the test unless it succeeds.
func mustStrata(t testing.TB, tmp string, args ...string) result {
	t.Helper()
	r := strataIn(tmp, args...)
	if r.err != nil {
		t.Fatalf("strata %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// run runs a tool and returns its stdout; failure is fatal.
func run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Package bundle_test runs `strata bundle` end to end: the built binary makes
// bundles from test images, the runtime under test runs them, and diff and
// commit take the containers' changes back to images.
//
// It uses testutil's harness: the runtime under test is strata, or $RUNTIME
// (RUNTIME=/usr/sbin/runc runs the bundles with runc); `strata bundle` is
// always strata ($STRATA_BINARY, or built from the repository).
package bundle_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// strataBin is the strata binary whose bundle command is under test.
var strataBin string

func TestMain(m *testing.M) {
	tu.MainWithStrata(&bundleCheck{m})
}

// bundleCheck refuses to run the tests with a strata that has no bundle
// command, which would fail every test the same way.
type bundleCheck struct{ *testing.M }

func (b *bundleCheck) Run() int {
	strataBin = tu.StrataPath()
	if out, err := exec.Command(strataBin, "bundle", "--help").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s has no working bundle command (is strata-image beside it? make builds both): %v\n%s", strataBin, err, out)
		return 1
	}
	return b.M.Run()
}

// strata runs the binary under test and returns its stdout; failure is fatal.
func strata(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := strataResult(args...)
	if err != nil {
		t.Fatalf("strata %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func strataResult(args ...string) (string, string, error) {
	cmd := exec.Command(strataBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// runBundle runs a bundle to completion with the runtime under test, as a
// testutil container (its own cgroup below testutil's, deleted, swept and
// leak-checked at the end), and returns the container's output.
func runBundle(t *testing.T, bundleDir string) string {
	t.Helper()
	c := tu.BundleContainer(t, bundleDir)
	r := c.Run()
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	return r.Stdout
}

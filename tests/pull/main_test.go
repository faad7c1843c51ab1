// Package pull_test runs `strata pull` and `strata bundle create
// --image docker://...` end to end against Debian's docker-registry (the
// distribution reference implementation), started by each test on a free
// port of 127.0.0.1 with its own storage, and filled with skopeo from OCI
// layouts the tests write. Nothing here is mocked: the slow proxy of the
// interruption test only relays the registry's bytes.
package pull_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestMain(m *testing.M) {
	tu.MainWithStrata(tu.NeedTools(m, "tests/pull", "apt-get install docker-registry skopeo", registryBin, "skopeo"))
}

// strata runs the binary under test with env added to its environment and
// returns its stdout; failure is fatal.
func strata(t testing.TB, env []string, args ...string) string {
	t.Helper()
	out, errOut, err := strataResult(env, args...)
	if err != nil {
		t.Fatalf("strata %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// strataFails runs a command that must fail and returns its stderr.
func strataFails(t testing.TB, env []string, args ...string) string {
	t.Helper()
	out, errOut, err := strataResult(env, args...)
	if err == nil {
		t.Fatalf("strata %s succeeded, expected a refusal\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, errOut)
	}
	return errOut
}

func strataResult(env []string, args ...string) (string, string, error) {
	cmd := exec.Command(tu.StrataPath(), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

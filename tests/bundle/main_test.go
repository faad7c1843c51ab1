// Package bundle_test runs `strata bundle` end to end: the built binary makes
// bundles from test images, a runtime runs them, and diff and commit take the
// containers' changes back to images.
package bundle_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	// strataBin is the binary under test: $STRATA_BINARY or built from the repository.
	strataBin string
	// runtimeBin runs the bundles: $STRATA_RUNTIME (runc works too) or strataBin.
	runtimeBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	strataBin = os.Getenv("STRATA_BINARY")
	if strataBin == "" {
		dir, err := os.MkdirTemp("", "strata-bundle-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		strataBin = filepath.Join(dir, "strata")
		build := exec.Command("go", "build", "-o", strataBin, ".")
		build.Dir = "../.."
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building strata: %v\n%s", err, out)
			return 1
		}
	}
	if out, err := exec.Command(strataBin, "bundle", "--help").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s has no working bundle command (is bundleCommand in main.go's commands()?): %v\n%s", strataBin, err, out)
		return 1
	}
	runtimeBin = os.Getenv("STRATA_RUNTIME")
	if runtimeBin == "" {
		runtimeBin = strataBin
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "tests/bundle needs root (CI runs as root): overlay mounts and containers")
		return 1
	}
	return m.Run()
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

var ids atomic.Int64

// runBundle runs a bundle to completion with the runtime under test, in a
// cgroup of its own below /strata-test that is removed afterwards, and
// returns the container's output.
func runBundle(t *testing.T, bundleDir string) string {
	t.Helper()
	id := fmt.Sprintf("bundle-%d-%d", os.Getpid(), ids.Add(1))
	cgroup := "/strata-test/" + id
	editSpec(t, bundleDir, func(s *specs.Spec) { s.Linux.CgroupsPath = cgroup })
	root := t.TempDir()
	t.Cleanup(func() {
		exec.Command(runtimeBin, "--root", root, "delete", "--force", id).Run()
		removeCgroups(cgroup)
	})
	cmd := exec.Command(runtimeBin, "--root", root, "run", "-b", bundleDir, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s run %s: %v\nstdout: %s\nstderr: %s", runtimeBin, id, err, stdout.String(), stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s run %s: timed out", runtimeBin, id)
	}
	return stdout.String()
}

// removeCgroups removes the container's cgroup in every hierarchy (v2 and
// the v1 controllers of a hybrid host), leaving /strata-test itself.
func removeCgroups(cgroup string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroup)
	dirs = append(dirs, "/sys/fs/cgroup"+cgroup)
	for _, d := range dirs {
		os.Remove(d)
	}
}

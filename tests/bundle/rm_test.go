package bundle_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestRmRunningContainer: rm of a bundle whose container runs is refused,
// naming the container, and leaves the container's files and the container
// working; rm --force kills and deletes the container, then the bundle.
func TestRmRunningContainer(t *testing.T) {
	tu.StrataOnly(t, "the container is found in strata's --root")
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+busyboxLayout(t)+":v1", "--store", t.TempDir(), "--", "sleep", "1000")
	c := tu.BundleContainer(t, b)
	tu.Must(t, c.Runtime("run", "-d", "--bundle", b, c.ID))

	_, stderr, err := strataResult("--root", c.Root, "bundle", "rm", b)
	if err == nil || !strings.Contains(stderr, `container "`+c.ID+`" (running) runs from it`) || !strings.Contains(stderr, "--force") {
		t.Fatalf("rm of a running bundle: %v\n%s", err, stderr)
	}
	for _, p := range []string{"config.json", "rootfs/bin/busybox", "upper", "work"} {
		if _, err := os.Stat(filepath.Join(b, p)); err != nil {
			t.Errorf("the refused rm removed %s: %v", p, err)
		}
	}
	if out := tu.Must(t, c.Runtime("exec", c.ID, "sh", "-c", "echo still > /w && cat /w")).Stdout; out != "still\n" {
		t.Fatalf("the container after the refused rm: %q", out)
	}

	strata(t, "--root", c.Root, "bundle", "rm", "--force", b)
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Fatalf("rm --force left %s (%v)", b, err)
	}
	if r := c.Runtime("state", c.ID); r.Code == 0 {
		t.Fatalf("rm --force left the container: %s", r)
	}
	assertNoMountsUnder(t, filepath.Dir(b))
}

// TestRmBundleOfUnknownContainer: a container rm cannot see (another --root,
// or another runtime) is still found by its processes' root, and refused
// with --force too: rm names its pid and kills nothing it did not start.
func TestRmBundleOfUnknownContainer(t *testing.T) {
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+busyboxLayout(t)+":v1", "--store", t.TempDir(), "--", "sleep", "1000")
	c := tu.BundleContainer(t, b)
	tu.Must(t, c.Runtime("run", "-d", "--bundle", b, c.ID))
	pid := c.State().Pid
	for _, force := range []bool{false, true} {
		args := []string{"--root", t.TempDir(), "bundle", "rm", b}
		if force {
			args = append(args, "--force")
		}
		_, stderr, err := strataResult(args...)
		if err == nil || !strings.Contains(stderr, strconv.Itoa(pid)+" (sleep)") {
			t.Fatalf("rm (force %v) of a bundle in use by pid %d: %v\n%s", force, pid, err, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs", "bin", "busybox")); err != nil {
		t.Fatalf("the refused rm removed the rootfs: %v", err)
	}
	tu.Must(t, c.Runtime("delete", "--force", c.ID))
	strata(t, "bundle", "rm", b)
}

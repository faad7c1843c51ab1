package testutil

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The guard is what makes every end-to-end test a leak test: prove it sees
// each kind of leftover, and stops seeing it once removed. Needs root.
func TestGuardReportsLeftovers(t *testing.T) {
	id := UniqueID(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	g := NewGuard(id, root, dir)

	if err := os.Mkdir(filepath.Join(root, id), 0o700); err != nil {
		t.Fatal(err)
	}
	cg := filepath.Join(cgroupfs.Hierarchies()[0], CgroupParent, id)
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroups(t, id); removeCgroupParents() })
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	proc := exec.Command("sleep", "1000")
	proc.Env = []string{markerEnv + "=" + id}
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })

	leaks := strings.Join(g.leaks(), "\n")
	for _, want := range []string{"state: " + filepath.Join(root, id), "cgroup: " + cg, "mount: ", "process: "} {
		if !strings.Contains(leaks, want) {
			t.Errorf("guard missed %q; it reported:\n%s", want, leaks)
		}
	}

	proc.Process.Kill()
	proc.Wait()
	unix.Unmount(mnt, unix.MNT_DETACH)
	os.Remove(filepath.Join(root, id))
	removeCgroups(t, id)
	if leaks := g.leaks(); len(leaks) != 0 {
		t.Errorf("guard still reports after cleanup: %v", leaks)
	}
}

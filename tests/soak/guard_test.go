package soak

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// The soak passes only if the machine guard would have seen a leftover: make
// one of each kind the soak looks for, by hand, and check that the guard
// reports it, then that it reports nothing once they are removed.
func TestMachineGuardSeesLeftovers(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	g := tu.NewMachineGuard(root, dir)
	id := tu.UniqueID(t)
	g.Track(id)
	if leaks := g.Leaks(); len(leaks) != 0 {
		t.Fatalf("guard reports leftovers right after its snapshot: %v", leaks)
	}

	// A mount anywhere in the namespace, even outside the scope paths.
	mnt, err := os.MkdirTemp("", "soak-guard-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(mnt)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	// Any entry in --root, whatever its name.
	stray := filepath.Join(root, "stray")
	if err := os.Mkdir(stray, 0o700); err != nil {
		t.Fatal(err)
	}
	// A cgroup named by the ID, nested anywhere in a hierarchy.
	cg := filepath.Join("/sys/fs/cgroup/pids", tu.CgroupParent, "nested", id)
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.Remove(cg)
		os.Remove(filepath.Dir(cg))
		os.Remove(filepath.Dir(filepath.Dir(cg)))
	}()
	// A child of this process, and an orphan (parent: pid 1 or a
	// subreaper) found only by its working directory in the scope.
	child := exec.Command("sleep", "1000")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	orphan := exec.Command("sh", "-c", "sleep 1000 >/dev/null 2>&1 </dev/null & echo $!")
	orphan.Dir = dir
	out, err := orphan.Output()
	if err != nil {
		t.Fatal(err)
	}
	orphanPid := strings.TrimSpace(string(out))
	defer exec.Command("kill", "-9", orphanPid).Run()

	leaks := strings.Join(g.Leaks(), "\n")
	for _, want := range []string{
		" " + mnt + " rw", "state: " + stray, "cgroup: " + cg,
		"process: " + strconv.Itoa(child.Process.Pid) + " ", "process: " + orphanPid + " ",
	} {
		if !strings.Contains(leaks, want) {
			t.Errorf("guard missed %q; it reported:\n%s", want, leaks)
		}
	}

	unix.Unmount(mnt, unix.MNT_DETACH)
	os.Remove(stray)
	os.Remove(cg)
	child.Process.Kill()
	child.Wait()
	exec.Command("kill", "-9", orphanPid).Run()
	// The orphan's parent reaps it; until then it is a leftover.
	deadline := time.Now().Add(5 * time.Second)
	for leaks := g.Leaks(); len(leaks) != 0; leaks = g.Leaks() {
		if time.Now().After(deadline) {
			t.Fatalf("guard still reports after cleanup: %v", leaks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

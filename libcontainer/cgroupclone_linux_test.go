package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
)

// testCgroup2 makes a private cgroup on this host's cgroup2 hierarchy (the
// unified one of a hybrid host, the root of a pure v2 one) and returns its
// directory and its path as /proc/PID/cgroup names it. Needs root.
func testCgroup2(t *testing.T) (dir, rel string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := "/sys/fs/cgroup/unified"
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		root = "/sys/fs/cgroup"
	}
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("no cgroup2 hierarchy at %s", root)
	}
	name := fmt.Sprintf("strata-clone3-%d-%s", os.Getpid(), t.Name())
	dir = filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	return dir, "/" + name
}

// catCgroup is a spec of a process that writes its own /proc/self/cgroup
// to a temp file, read back with output.
func catCgroup(t *testing.T) (*spawnSpec, *os.File) {
	return shell(t, "cat /proc/self/cgroup")
}

// shell is a spec of `sh -c script` writing its output to a temp file.
func shell(t *testing.T, script string) (*spawnSpec, *os.File) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return &spawnSpec{
		path:  sh,
		args:  []string{"sh", "-c", script},
		files: []*os.File{os.Stdin, out, out},
		sys:   &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL},
	}, out
}

// output is what a process wrote to out.
func output(t *testing.T, out *os.File) string {
	t.Helper()
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// v2Line is the cgroup v2 line ("0::/path") of a /proc/PID/cgroup.
func v2Line(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "0::") {
			return strings.TrimPrefix(l, "0::")
		}
	}
	return ""
}

// The process is born in the cgroup: nobody writes its pid anywhere, yet
// the cgroup is the first thing it reads about itself.
func TestStartInCgroupBornThere(t *testing.T) {
	if clone3Refused.Load() {
		t.Fatal("clone3 refused before the test")
	}
	dir, rel := testCgroup2(t)
	fd, err := cgroups.OpenForClone(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	spec, out := catCgroup(t)
	c, pl, err := startInCgroup(spec, &cgroups.Entry{Dir: fd})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.wait(); err != nil {
		t.Fatal(err)
	}
	if !pl.born || !pl.dir || pl.why != "" {
		t.Errorf("placement %+v: want born in the cgroup", pl)
	}
	if got := v2Line(output(t, out)); got != rel {
		t.Errorf("the process saw itself in %q, want %q (born in %s):\n%s", got, rel, dir, output(t, out))
	}
	if spec.sys.UseCgroupFD {
		t.Error("startInCgroup changed the caller's spec (UseCgroupFD set)")
	}
	// And its own children are there too (the nsenter fork of the init).
	spec, out = shell(t, "cat /proc/self/cgroup; true") // forks: not exec
	c, _, err = startInCgroup(spec, &cgroups.Entry{Dir: fd})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.wait(); err != nil {
		t.Fatal(err)
	}
	if got := v2Line(output(t, out)); got != rel {
		t.Errorf("the child's child saw itself in %q, want %q", got, rel)
	}
}

// Without an fd, or once clone3 was refused, the process starts where its
// parent is and the caller moves it (placement not born).
func TestStartInCgroupClassic(t *testing.T) {
	dir, rel := testCgroup2(t)
	fd, err := cgroups.OpenForClone(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	for _, tc := range []struct {
		name    string
		entry   *cgroups.Entry
		refused bool
	}{{"no entry", nil, false}, {"refused earlier", &cgroups.Entry{Dir: fd}, true}} {
		clone3Refused.Store(tc.refused)
		spec, out := catCgroup(t)
		c, pl, err := startInCgroup(spec, tc.entry)
		clone3Refused.Store(false)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := c.wait(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if pl.born || (tc.refused && pl.why == "") {
			t.Errorf("%s: placement %+v", tc.name, pl)
		}
		if got := v2Line(output(t, out)); got == rel {
			t.Errorf("%s: the process is in the cgroup without clone3", tc.name)
		}
	}
}

// A wrong fd (not a cgroup2 directory) is an error, not a silent fallback:
// that is strata's bug, not the host's refusal.
func TestStartInCgroupBadFD(t *testing.T) {
	f, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spec, _ := catCgroup(t)
	_, _, err = startInCgroup(spec, &cgroups.Entry{Dir: f})
	if !errors.Is(err, unix.EBADF) {
		t.Errorf("start with a non-cgroup fd: %v, want EBADF", err)
	}
	if clone3Refused.Load() {
		t.Error("a bad fd was taken for the host's refusal")
		clone3Refused.Store(false)
	}
}

// testCgroupV1 makes a private cgroup in this host's v1 pids hierarchy and
// returns its directory and its path as /proc/PID/cgroup names it.
func testCgroupV1(t *testing.T) (dir, rel string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup/pids", &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		t.Skip("no cgroup v1 pids hierarchy (a pure cgroup v2 host)")
	}
	name := fmt.Sprintf("strata-tasks-%d-%s", os.Getpid(), t.Name())
	dir = filepath.Join("/sys/fs/cgroup/pids", name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	return dir, "/" + name
}

// removeCgroup removes a test's cgroup, which a reaped process leaves a
// moment later.
func removeCgroup(t *testing.T, dir string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove %s: %v", dir, err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A process writing "0" to a tasks file its parent opened moves itself
// there (what nsenter.c does with cgroups.Entry.Tasks): the parent writes
// no pid, and the process's children are there too.
func TestEntryTasksMovesTheWriter(t *testing.T) {
	dir, rel := testCgroupV1(t)
	e, err := cgroups.OpenEntry(map[string]string{"pids": dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dir != nil || len(e.Tasks) != 1 || e.Tasks[0].Name() != dir+"/tasks" {
		t.Fatalf("entry %+v: want one tasks file, %s/tasks, and no cgroup2 directory", e, dir)
	}
	var out strings.Builder
	cmd := exec.Command("sh", "-c", "echo 0 >&3 && cat /proc/self/cgroup")
	cmd.ExtraFiles = e.Tasks
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if !strings.Contains(out.String(), ":pids:"+rel+"\n") {
		t.Errorf("the child of the writer is not in %s:\n%s", rel, out.String())
	}
	if pids, _ := os.ReadFile(dir + "/cgroup.procs"); len(pids) != 0 {
		t.Errorf("%s/cgroup.procs after the processes exited: %q", dir, pids)
	}
}

// OpenEntry opens one tasks file per v1 directory, co-mounted controllers
// sharing one, and the "" path as the cgroup2 directory; a missing
// directory is an error that names it, with nothing left open.
func TestOpenEntry(t *testing.T) {
	dir, _ := testCgroupV1(t)
	e, err := cgroups.OpenEntry(map[string]string{"pids": dir, "name=pids-again": dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Tasks) != 1 {
		t.Errorf("two controllers in one directory gave %d tasks files, want 1", len(e.Tasks))
	}
	e.Close()
	missing := dir + "/nosuch"
	_, err = cgroups.OpenEntry(map[string]string{"pids": dir, "freezer": missing})
	if err == nil || !strings.Contains(err.Error(), missing+"/tasks") {
		t.Errorf("OpenEntry of a missing cgroup: %v, want an error naming %s/tasks", err, missing)
	}
}

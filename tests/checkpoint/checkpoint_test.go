//go:build checkpoint

package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("criu"); err != nil {
		fmt.Fprintln(os.Stderr, "checkpoint tests: criu is not installed (Debian package \"criu\"): every test here needs it")
		os.Exit(1)
	}
	tu.Main(m)
}

// counter makes the container count, one number every 0.1 s, into /count
// (renamed into place: a reader never sees a half-written number), until
// it reaches limit (0: never), then exit with status 7. Its stdio is the
// container's own /dev/null, so the checkpoint holds no file of the test's.
func counter(limit int) func(*specs.Spec) {
	script := fmt.Sprintf(`exec </dev/null >/dev/null 2>&1; i=0
while [ %d -eq 0 ] || [ $i -lt %d ]; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.1; done
exit 7`, limit, limit)
	return func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", script} }
}

// count reads /count in a rootfs (-1 while there is none).
func count(t *testing.T, rootfs string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rootfs, "count"))
	if os.IsNotExist(err) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s/count: %q is not a number", rootfs, b)
	}
	return n
}

// waitCount waits until /count in rootfs is above min and returns it.
func waitCount(t *testing.T, rootfs string, min int) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n := count(t, rootfs); n > min {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/count never went above %d (it is %d)", rootfs, min, count(t, rootfs))
	return 0
}

// startCounter runs a counting container detached and waits until it has
// counted a little.
func startCounter(t *testing.T, limit int) *tu.Container {
	t.Helper()
	c := tu.NewContainer(t, counter(limit))
	tu.Must(t, c.Runtime("run", "-d", "--bundle", c.Bundle, c.ID))
	waitCount(t, c.Rootfs(), 2)
	return c
}

// checkpoint dumps c into a directory below its test directory.
func checkpoint(t *testing.T, c *tu.Container, flags ...string) (images, work string) {
	t.Helper()
	images, work = filepath.Join(c.Dir, "images"), filepath.Join(c.Dir, "work")
	args := append([]string{"checkpoint", "--image-path", images, "--work-path", work}, flags...)
	if r := c.Runtime(append(args, c.ID)...); r.Code != 0 {
		dumpLog(t, work, "dump.log")
		t.Fatalf("checkpoint failed: %s", r)
	}
	if _, err := os.Stat(filepath.Join(images, "inventory.img")); err != nil {
		t.Fatalf("checkpoint made no CRIU images: %v", err)
	}
	return images, work
}

// dumpLog shows the end of a CRIU log, which says why CRIU failed.
func dumpLog(t *testing.T, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Logf("no CRIU log %s: %v", name, err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("end of %s:\n%s", name, strings.Join(lines, "\n"))
}

func restoreArgs(c *tu.Container, images, work string, flags ...string) []string {
	return append(append([]string{"restore", "--bundle", c.Bundle, "--image-path", images, "--work-path", work}, flags...), c.ID)
}

// stateOf is `state ID`'s status and pid, or the failure.
func stateOf(c *tu.Container) (string, int, tu.Result) {
	r := c.Runtime("state", c.ID)
	if r.Code != 0 {
		return "", 0, r
	}
	var s tu.State
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		return "", 0, r
	}
	return s.Status, s.Pid, r
}

// TestCheckpointRestore checkpoints a counting container, which then is
// gone, and restores it under another ID from another bundle: the count
// goes on from where it was, and state, ps, exec, kill and delete work on
// the restored container.
func TestCheckpointRestore(t *testing.T) {
	c := startCounter(t, 0)
	images, work := checkpoint(t, c)
	if st, _, r := stateOf(c); r.Code == 0 {
		t.Errorf("after checkpoint the container should be gone, as with runc; state says %q", st)
	}
	n := count(t, c.Rootfs())
	time.Sleep(500 * time.Millisecond)
	if m := count(t, c.Rootfs()); m != n {
		t.Fatalf("the checkpointed counter still counts: %d, then %d", n, m)
	}

	c2 := tu.NewContainer(t, counter(0))
	if r := c2.Runtime(restoreArgs(c2, images, work, "-d")...); r.Code != 0 {
		dumpLog(t, work, "restore.log")
		t.Fatalf("restore failed: %s", r)
	}
	// The restored shell counts on from its memory into the new rootfs,
	// which had no /count: from 0 it would start at 1.
	first := waitCount(t, c2.Rootfs(), -1)
	if first <= n || first > n+3 {
		t.Errorf("restored counter wrote %d first; the checkpoint had counted to %d", first, n)
	}
	later := waitCount(t, c2.Rootfs(), first)
	t.Logf("checkpointed at %d; restored, counted %d then %d", n, first, later)

	st, pid, r := stateOf(c2)
	if st != "running" || pid <= 0 {
		t.Fatalf("restored container: want running with a pid: %s", r)
	}
	if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err != nil || !strings.Contains(string(cg), tu.CgroupParent+"/"+c2.ID) {
		t.Errorf("restored init %d is not in the new container's cgroup %s/%s: %s %v", pid, tu.CgroupParent, c2.ID, cg, err)
	}
	ps := tu.Must(t, c2.Runtime("ps", "--format", "json", c2.ID))
	var pids []int
	if err := json.Unmarshal([]byte(ps.Stdout), &pids); err != nil || !slices.Contains(pids, pid) {
		t.Errorf("ps --format json: want the restored init %d among %q (%v)", pid, ps.Stdout, err)
	}
	ex := c2.Runtime("exec", c2.ID, "cat", "/count")
	if v, err := strconv.Atoi(strings.TrimSpace(ex.Stdout)); ex.Code != 0 || err != nil || v < later {
		t.Errorf("exec cat /count in the restored container: want a number >= %d: %s", later, ex)
	}
	tu.Must(t, c2.Runtime("kill", c2.ID, "KILL"))
	deadline := time.Now().Add(30 * time.Second)
	for st != "stopped" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		st, _, _ = stateOf(c2)
	}
	if st != "stopped" {
		t.Fatalf("restored container after kill KILL: status %q, want stopped", st)
	}
	tu.Must(t, c2.Runtime("delete", c2.ID))
	if _, _, r := stateOf(c2); r.Code == 0 {
		t.Errorf("restored container still there after delete: %s", r)
	}
}

// TestCheckpointLeaveRunning: with --leave-running the container keeps its
// init and keeps counting, and the images are complete.
func TestCheckpointLeaveRunning(t *testing.T) {
	c := startCounter(t, 0)
	_, pid, _ := stateOf(c)
	checkpoint(t, c, "--leave-running")
	st, pid2, r := stateOf(c)
	if st != "running" || pid2 != pid {
		t.Fatalf("after checkpoint --leave-running: want running with pid %d: %s", pid, r)
	}
	n := count(t, c.Rootfs())
	waitCount(t, c.Rootfs(), n)
}

// TestRestoreForeground: without --detach restore waits for the container
// and exits with its status, as run does, and deletes it.
func TestRestoreForeground(t *testing.T) {
	c := startCounter(t, 25)
	images, work := checkpoint(t, c)
	c2 := tu.NewContainer(t, counter(25))
	r := c2.Runtime(restoreArgs(c2, images, work)...)
	if r.Code != 7 {
		dumpLog(t, work, "restore.log")
		t.Fatalf("foreground restore: want the container's exit status 7: %s", r)
	}
	if n := count(t, c2.Rootfs()); n != 25 {
		t.Errorf("the restored counter stopped at %d, want 25", n)
	}
	if _, _, r := stateOf(c2); r.Code == 0 {
		t.Errorf("a foreground restore should delete its container once it exits: %s", r)
	}
}

// TestCheckpointBadInput: what cannot be checkpointed or restored fails,
// names the reason (strata), and leaves nothing behind (each container's
// guard checks state, cgroups, mounts and processes).
func TestCheckpointBadInput(t *testing.T) {
	t.Run("no-such-container", func(t *testing.T) {
		c := tu.NewContainer(t, nil)
		images := filepath.Join(c.Dir, "images")
		r := c.Runtime("checkpoint", "--image-path", images, c.ID)
		wantError(t, r, "does not exist")
		if _, err := os.Stat(images); err == nil {
			t.Errorf("a failed checkpoint of no container made %s", images)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		c := tu.NewContainer(t, nil)
		tu.Must(t, c.Runtime("run", "-d", "--bundle", c.Bundle, c.ID))
		deadline := time.Now().Add(30 * time.Second)
		for st, _, _ := stateOf(c); st != "stopped"; st, _, _ = stateOf(c) {
			if time.Now().After(deadline) {
				t.Fatalf("container running true never stopped")
			}
			time.Sleep(100 * time.Millisecond)
		}
		wantError(t, c.Runtime("checkpoint", "--image-path", filepath.Join(c.Dir, "images"), c.ID), "stopped")
		if st, _, r := stateOf(c); st != "stopped" {
			t.Errorf("a refused checkpoint changed the container: %s", r)
		}
	})
	t.Run("created", func(t *testing.T) {
		c := tu.NewContainer(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
		tu.Must(t, c.Create())
		wantError(t, c.Runtime("checkpoint", "--image-path", filepath.Join(c.Dir, "images"), c.ID), "created")
	})
	t.Run("restore-missing-images", func(t *testing.T) {
		c := tu.NewContainer(t, counter(0))
		missing := filepath.Join(c.Dir, "no-images")
		wantError(t, c.Runtime(restoreArgs(c, missing, filepath.Join(c.Dir, "work"), "-d")...), missing)
		if _, _, r := stateOf(c); r.Code == 0 {
			t.Errorf("a failed restore left a container: %s", r)
		}
	})
	t.Run("restore-empty-images", func(t *testing.T) {
		c := tu.NewContainer(t, counter(0))
		empty := filepath.Join(c.Dir, "empty")
		if err := os.Mkdir(empty, 0o700); err != nil {
			t.Fatal(err)
		}
		wantError(t, c.Runtime(restoreArgs(c, empty, filepath.Join(c.Dir, "work"), "-d")...), empty)
		if _, _, r := stateOf(c); r.Code == 0 {
			t.Errorf("a failed restore left a container: %s", r)
		}
	})
	t.Run("criu-missing", func(t *testing.T) {
		c := startCounter(t, 0)
		r := tu.Exec(t, tu.Command(c.Root, c.ID, "--criu", "/nonexistent/criu", "checkpoint", "--image-path", filepath.Join(c.Dir, "images"), c.ID))
		wantError(t, r, `"/nonexistent/criu"`)
		wantError(t, r, `package "criu"`)
		if st, _, r := stateOf(c); st != "running" {
			t.Errorf("a checkpoint without criu changed the container: %s", r)
		}
	})
}

// TestStrataRefusals: the flags strata cannot honour are refused by name,
// before anything happens. runc accepts them (it drives lazy pages and
// ignores restore --no-pivot).
func TestStrataRefusals(t *testing.T) {
	tu.StrataOnly(t, "strata's own refusals: runc accepts these flags")
	c := startCounter(t, 0)
	for _, args := range [][]string{
		{"checkpoint", "--lazy-pages", c.ID},
		{"checkpoint", "--status-fd", "1", c.ID},
		{"checkpoint", "--manage-cgroups-mode", "loose", c.ID},
		{"checkpoint", "--empty-ns", "mount", c.ID},
		{"restore", "--no-pivot", "--bundle", c.Bundle, c.ID + "-r"},
		{"restore", "--lazy-pages", "--bundle", c.Bundle, c.ID + "-r"},
	} {
		wantError(t, c.Runtime(args...), strings.TrimPrefix(args[1], "--"))
	}
	if st, _, r := stateOf(c); st != "running" {
		t.Errorf("a refused command changed the container: %s", r)
	}
}

// wantError checks that r failed and, for strata, that its error names what.
func wantError(t *testing.T, r tu.Result, what string) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("expected a failure: %s", r)
	}
	if tu.IsStrata() && !strings.Contains(r.Stderr, what) {
		t.Errorf("the error does not name %q: %s", what, r.Stderr)
	}
}

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.example.test": "lifecycle"}
	}))
	guard := c.Guard()

	tu.Must(t, c.Create())
	s := c.State()
	if s.Status != "created" || s.ID != c.ID || s.Pid <= 0 || s.Bundle != c.Bundle || s.OCIVersion == "" ||
		s.Annotations["org.example.test"] != "lifecycle" || s.Rootfs != c.Rootfs() {
		t.Fatalf("after create: %+v", s)
	}
	if created, err := time.Parse(time.RFC3339Nano, s.Created); err != nil || time.Since(created) > time.Minute {
		t.Errorf("state.created %q: not a recent RFC 3339 time (%v)", s.Created, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", s.Pid)); err != nil {
		t.Fatalf("init process of created container: %v", err)
	}
	pid := s.Pid

	tu.Must(t, c.Runtime("start", c.ID))
	if s := c.State(); s.Status != "running" || s.Pid != pid {
		t.Fatalf("after start: %+v (pid was %d)", s, pid)
	}

	tu.Must(t, c.Runtime("kill", c.ID, "KILL"))
	c.WaitStatus("stopped", 10*time.Second)
	pidGone(t, pid)
	// A kill of a stopped container fails in runc's words: containerd's
	// shim takes "container not running" as an init that has already
	// exited, and any other failure as a failed StopContainer.
	if r := c.Runtime("kill", c.ID, "KILL"); r.Code == 0 || !strings.Contains(r.Stderr, "container not running") {
		t.Errorf("kill of a stopped container: want a failure saying \"container not running\": %s", r)
	}

	tu.Must(t, c.Runtime("delete", c.ID))
	r := c.Runtime("state", c.ID)
	wantErrorText(t, r, fmt.Sprintf("state of container %q: does not exist", c.ID))
	guard.Check(t)
}

// A created container's init goes by strata's name in ps -e and top, not
// by the number of the fd it was exec'd from.
func TestCreatedInitIsNamedStrata(t *testing.T) {
	t.Parallel()
	tu.StrataOnly(t, "runc names its init runc:[2:INIT]")
	c := tu.NewContainer(t, sleeper)
	tu.Must(t, c.Create())
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.State().Pid))
	if err != nil {
		t.Fatal(err)
	}
	if string(comm) != "strata\n" {
		t.Errorf("the created init's comm is %q, want \"strata\\n\"", comm)
	}
}

func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("exit 3"))
	if r := c.Run(); r.Code != 3 {
		t.Errorf("want exit 3: %s", r)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	t.Parallel()
	// Without a PID namespace of its own the shell is not PID 1, which the
	// kernel shields from its own namespace's signals; SIGKILL then kills it
	// and the runtime must exit 128+9.
	c := tu.NewContainer(t, with(sh("kill -9 $$; exit 1"), withoutNamespace(specs.PIDNamespace)))
	if r := c.Run(); r.Code != 137 {
		t.Errorf("want exit 137: %s", r)
	}
}

func TestRunDetachedPidFile(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sleeper)
	pidFile := filepath.Join(c.Dir, "pid")
	tu.Must(t, c.Run("--detach", "--pid-file", pidFile))
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file %q: %v", data, err)
	}
	s := c.State()
	if s.Status != "running" || s.Pid != pid {
		t.Fatalf("state %+v, pid file says %d", s, pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		t.Fatal(err)
	}
	// delete --force of a running container kills it and removes its state.
	tu.Must(t, c.Runtime("delete", "--force", c.ID))
	if r := c.Runtime("state", c.ID); r.Code == 0 {
		t.Errorf("state after delete --force succeeded: %s", r)
	}
	pidGone(t, pid)
}

func TestList(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sleeper)
	tu.Must(t, c.Create())

	var list []tu.State
	r := tu.Must(t, c.Runtime("list", "--format", "json"))
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("list -f json: %v\n%s", err, r.Stdout)
	}
	if len(list) != 1 || list[0].ID != c.ID || list[0].Status != "created" || list[0].Pid <= 0 || list[0].Bundle != c.Bundle {
		t.Errorf("list -f json: %+v", list)
	}

	lines := strings.Split(strings.TrimSpace(tu.Must(t, c.Runtime("list")).Stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "STATUS") ||
		!strings.HasPrefix(lines[1], c.ID+" ") || !strings.Contains(lines[1], "created") {
		t.Errorf("list table:\n%s", strings.Join(lines, "\n"))
	}

	if out := tu.Must(t, c.Runtime("list", "-q")).Stdout; out != c.ID+"\n" {
		t.Errorf("list -q: %q", out)
	}
}

func TestConcurrentCreateSameID(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sleeper)
	var wg sync.WaitGroup
	results := make([]tu.Result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.Create()
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r.Code == 0 {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("want exactly one create to succeed:\n%s\n%s", results[0], results[1])
	}
	if r := c.Runtime("state", c.ID); r.Code != 0 || !strings.Contains(r.Stdout, `"created"`) {
		t.Errorf("state after the race: %s\n%s\n%s", r, results[0], results[1])
	}
}

package libcontainer

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// A spawned child ends as os/exec would have told it, is reaped once, and
// a start that fails names the path and keeps the errno.
func TestSpawnedChildEnds(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	// Not the test's own stdout: go test waits for whatever holds it.
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	run := func(script string) *child {
		t.Helper()
		s := &spawnSpec{path: sh, args: []string{"sh", "-c", script}, files: []*os.File{null, null, null}, sys: &syscall.SysProcAttr{}}
		c, err := s.start()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct{ script, want string }{
		{"exit 0", ""},
		{"exit 3", "exit status 3"},
		{"kill -KILL $$", "signal: killed"},
	} {
		c := run(tc.script)
		err := c.wait()
		if got := errString(err); got != tc.want {
			t.Errorf("%q: wait gave %q, want %q", tc.script, got, tc.want)
		}
		if again := c.wait(); errString(again) != tc.want || !c.reaped {
			t.Errorf("%q: a second wait gave %v (reaped %v), want the same answer from the first", tc.script, again, c.reaped)
		}
		c.kill() // reaped: must not signal whatever has the pid now
	}

	c := run("exec sleep 100") // the shell itself is killed: no orphan
	c.kill()
	if !c.reaped || !c.status.Signaled() || c.status.Signal() != syscall.SIGKILL {
		t.Errorf("kill of a sleeping child: reaped %v, status %v", c.reaped, c.status)
	}

	missing := t.TempDir() + "/nosuch"
	_, err = (&spawnSpec{path: missing, args: []string{"x"}, sys: &syscall.SysProcAttr{}}).start()
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(errString(err), "fork/exec "+missing) {
		t.Errorf("start of a missing binary: %v, want fork/exec %s wrapping ENOENT", err, missing)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package compat

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Concurrent commands on one container, as from several shells: a
// foreground `run` (or exec) in one goroutine while others pause, exec,
// kill or delete it. Every command has a timeout; one that hangs where
// runc's returns is a difference ("hang").

// bounded is the timeout for the commands that must not block on a
// foreground run.
var bounded = expect{timeout: 10 * time.Second}

// background runs f in a goroutine; the returned function waits for it.
func background(f func()) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
	return wg.Wait
}

// waitExeced polls `ps -f json` (not compared) until one of the
// container's processes runs argv, then records whether it got there.
// Counting processes is not enough: the runtime's own helper that sets an
// exec up is in the container's cgroup before the exec'd program runs, and
// killing the container then fails the exec (runc: "read init-p: connection
// reset by peer") instead of ending it with the program's death. The
// container's init is left out: it may run the same argv (the "running"
// container's init is `sleep 1000` too).
func (s *session) waitExeced(id string, argv ...string) {
	want := strings.Join(argv, "\x00") + "\x00"
	var st struct{ Pid int }
	if out := s.raw("state", id).stdout; json.Unmarshal([]byte(out), &st) != nil || st.Pid <= 0 {
		s.t.Errorf("state %s gave no init pid to leave out: %q", id, out)
		return
	}
	found := false
	for deadline := time.Now().Add(10 * time.Second); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var pids []int
		if json.Unmarshal([]byte(s.raw("ps", "--format", "json", id).stdout), &pids) != nil {
			continue
		}
		for _, pid := range pids {
			if pid == st.Pid {
				continue
			}
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && string(cmdline) == want {
				found = true
			}
		}
	}
	s.note(fmt.Sprintf("%s runs %q", s.normalise(id), argv), fmt.Sprint(found))
}

func TestConcurrentForegroundRun(t *testing.T) {
	t.Parallel()
	t.Run("pause-exec-kill", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id := s.newID()
			bundle := s.bundle(id, args("sleep", "1000"))
			wait := background(func() {
				s.runx(expect{timeout: 40 * time.Second, check: exitsWith(137)}, "run", "-b", bundle, id)
			})
			s.waitStatus(id, "running")
			s.runx(bounded, "pause", id)
			s.state(id)
			s.runx(bounded, "resume", id)
			s.runx(bounded, "exec", id, "echo", "from-exec")
			s.runx(expect{timeout: 10 * time.Second, out: asJSON(shape{equal: []string{"#"}})}, "ps", "--format", "json", id)
			s.runx(bounded, "update", "--pids-limit", "20", id)
			s.runx(bounded, "kill", id, "KILL")
			wait()
			s.runx(fail, "state", id)
		})
	})
	t.Run("delete-force", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id := s.newID()
			bundle := s.bundle(id, args("sleep", "1000"))
			wait := background(func() {
				s.runx(expect{timeout: 40 * time.Second, check: exitsWith(137)}, "run", "-b", bundle, id)
			})
			s.waitStatus(id, "running")
			s.runx(expect{timeout: 10 * time.Second, check: succeeds}, "delete", "--force", id)
			wait()
			s.runx(fail, "state", id)
		})
	})
	t.Run("term-trapped", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id := s.newID()
			bundle := s.bundle(id, sh(`trap "exit 3" TERM; while :; do sleep 0.1; done`))
			wait := background(func() {
				s.runx(expect{timeout: 40 * time.Second, check: exitsWith(3)}, "run", "-b", bundle, id)
			})
			s.waitStatus(id, "running")
			s.runx(bounded, "kill", id)
			wait()
		})
	})
	t.Run("keep-then-delete", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id := s.newID()
			bundle := s.bundle(id, args("sleep", "1000"))
			wait := background(func() {
				s.runx(expect{timeout: 40 * time.Second, check: exitsWith(137)}, "run", "--keep", "-b", bundle, id)
			})
			s.waitStatus(id, "running")
			s.runx(bounded, "kill", "--all", id, "KILL")
			wait()
			s.state(id)
			s.runx(bounded, "delete", id)
		})
	})
}

func TestConcurrentExecs(t *testing.T) {
	t.Parallel()
	t.Run("many-at-once", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id, _ := s.container("running")
			var waits []func()
			for i := range 4 {
				waits = append(waits, background(func() {
					s.runx(expect{timeout: 20 * time.Second, check: stdoutIs(fmt.Sprintf("exec-%d\n", i))}, "exec", id, "echo", fmt.Sprintf("exec-%d", i))
				}))
			}
			waits = append(waits,
				background(func() { s.runx(expect{timeout: 20 * time.Second, out: ignore}, "events", "--stats", id) }),
				background(func() { s.runx(expect{timeout: 20 * time.Second, out: table("UID")}, "list") }),
				background(func() { s.runx(expect{timeout: 20 * time.Second, out: ignore}, "state", id) }))
			for _, w := range waits {
				w()
			}
			s.runx(bounded, "kill", id, "KILL")
			s.waitStatus(id, "stopped")
		})
	})
	// A foreground exec when its container is killed: it ends with the
	// process's death.
	t.Run("exec-then-kill-container", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id, _ := s.container("running")
			wait := background(func() { s.runx(expect{timeout: 40 * time.Second}, "exec", id, "sleep", "1000") })
			s.waitExeced(id, "sleep", "1000")
			s.runx(bounded, "kill", id, "KILL")
			wait()
			s.waitStatus(id, "stopped")
		})
	})
	// A foreground exec while the container is paused and resumed.
	t.Run("exec-across-pause", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id, _ := s.container("running")
			wait := background(func() {
				s.runx(expect{timeout: 40 * time.Second, check: exitsWith(0)}, "exec", id, "sh", "-c", "sleep 1; echo done")
			})
			s.waitExeced(id, "sh", "-c", "sleep 1; echo done")
			s.runx(bounded, "pause", id)
			s.runx(bounded, "resume", id)
			wait()
			s.runx(bounded, "delete", "--force", id)
		})
	})
}

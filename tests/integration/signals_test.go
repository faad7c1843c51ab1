package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// trapper traps the signals it is sent, says which came, and exits 42 on
// SIGTERM.
const trapper = `for s in HUP USR1 USR2 ALRM; do trap "echo got-$s" $s; done
trap 'echo got-TERM; exit 42' TERM
echo ready
while :; do sleep 0.1; done`

// TestRunRelaysSignals: a foreground run passes the signals it gets on to
// the container's process, one by one, and exits with its status. Also when
// strata was started with some of them blocked, as a supervisor may leave
// them (then os/signal's thread, which unblocks them, catches those).
func TestRunRelaysSignals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		block []unix.Signal
	}{
		{"unblocked", nil},
		{"inherited blocked", []unix.Signal{unix.SIGUSR1, unix.SIGALRM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tu.NewContainer(t, func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", trapper} })
			out := filepath.Join(c.Dir, "out")
			cmd := tu.Command(c.Root, c.ID, "run", "--bundle", c.Bundle, c.ID)
			done := startTrapping(t, cmd, out, tc.block)
			want := "ready\n"
			for _, s := range []syscall.Signal{unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM} {
				if err := cmd.Process.Signal(s); err != nil {
					t.Fatal(err)
				}
				want += "got-" + strings.TrimPrefix(unix.SignalName(s), "SIG") + "\n"
				if got := waitContent(out, want); got != want {
					t.Fatalf("after %v the container printed %q, want %q", s, got, want)
				}
			}
			termExits(t, cmd, done, out)
		})
	}
}

// TestExecForwardsSignals: a foreground exec passes the signals it gets on
// to the process and exits with its status.
func TestExecForwardsSignals(t *testing.T) {
	t.Parallel()
	c, _ := runningContainer(t, nil)
	out := filepath.Join(c.Dir, "out")
	cmd := tu.Command(c.Root, c.ID, "exec", c.ID, "sh", "-c", trapper)
	done := startTrapping(t, cmd, out, nil)
	termExits(t, cmd, done, out)
	if data, _ := os.ReadFile(out); string(data) != "ready\ngot-TERM\n" {
		t.Errorf("output %q", data)
	}
}

// startTrapping starts cmd, a foreground run or exec of trapper, with its
// output in the file out and the signals block blocked, and waits for its
// "ready". The cleanup kills what is left. done gets cmd's Wait.
func startTrapping(t *testing.T, cmd *exec.Cmd, out string, block []unix.Signal) (done chan error) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	err = startBlocking(cmd, block)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	if line := waitFile(t, out); line != "ready\n" {
		t.Fatalf("the process printed %q, want \"ready\\n\"", line)
	}
	return done
}

// termExits sends cmd SIGTERM and fails the test unless it exits within
// 20 s with 42, the status of trapper's trap.
func termExits(t *testing.T, cmd *exec.Cmd, done chan error, out string) {
	t.Helper()
	if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		done <- nil // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatalf("%v did not exit after SIGTERM", cmd.Args[3:])
	}
	if code := cmd.ProcessState.ExitCode(); code != 42 {
		data, _ := os.ReadFile(out)
		t.Errorf("exit status %d after SIGTERM, want 42 (the trap's); output %q", code, data)
	}
}

// startBlocking starts cmd with the signals block blocked: a child of Go's
// os/exec gets the mask of the thread that started it.
func startBlocking(cmd *exec.Cmd, block []unix.Signal) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	for _, s := range block {
		bit := uint(s) - 1
		set.Val[bit/64] |= 1 << (bit % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return err
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return cmd.Start()
}

// waitContent waits up to 10 s for path to hold want, and returns what it
// holds.
func waitContent(path, want string) string {
	var data []byte
	for range 200 {
		data, _ = os.ReadFile(path)
		if string(data) == want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return string(data)
}

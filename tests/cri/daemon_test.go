//go:build cri

package cri

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemon is a server the test started (containerd, the registry), its
// output in a log file.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startDaemon starts cmd with its output in logPath and waits until ready
// reports nil; a daemon that exits first or is not ready within a minute
// fails the test with its log. Its stop is registered as a cleanup.
func startDaemon(t *testing.T, logPath string, ready func() error, cmd *exec.Cmd) *daemon {
	t.Helper()
	logF, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logF.Close()
	cmd.Stdout, cmd.Stderr = logF, logF
	// Its own process group, so a signal to the test does not reach it;
	// told to stop if the test binary dies without its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	d := &daemon{name: strings.Join(cmd.Args, " "), cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(time.Minute)
	for {
		err := ready()
		if err == nil {
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before it was ready (%v): %v\n--- %s ---\n%s", d.name, cmd.ProcessState, err, logPath, readLog(logPath))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after a minute: %v\n--- %s ---\n%s", d.name, err, logPath, readLog(logPath))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM, and SIGKILL after 20 s.
func (d *daemon) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s ignored SIGTERM for 20 s; killing it", d.name)
		d.cmd.Process.Kill()
		<-d.done
	}
}

// readLog is the end of a log file, for failure messages.
func readLog(p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	if len(data) > 20000 {
		data = append([]byte("[...]\n"), data[len(data)-20000:]...)
	}
	return string(data)
}

// dumpOnFailure prints the log files at the end of a failed test.
func dumpOnFailure(t *testing.T, logs ...string) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs {
				t.Logf("--- %s ---\n%s", l, readLog(l))
			}
		}
	})
}

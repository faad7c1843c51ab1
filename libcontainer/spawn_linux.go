package libcontainer

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// A container's init and an exec'd process's executor are started with
// syscall.ForkExec and reaped with wait4, not through os/exec. The first
// process a Go program starts through os.StartProcess pays for the os
// package's pidfd probe (pidfd_open, waitid and pidfd_send_signal on
// itself, and a vfork'd child that exits at once, to learn whether
// CLONE_PIDFD works): 0.28 ms of CPU and 5 context switches per program on
// the 2-core test VM (300 starts of /bin/true each way, perf stat), paid by
// every `run`, `create` and `exec`. strata has no use for the pidfd: it
// knows its children by pid and reaps them itself, and a child it has not
// reaped keeps its pid.

// spawnSpec is what a child is started from. It may be started more than
// once (startInCgroup tries clone3 first).
type spawnSpec struct {
	path string
	args []string
	env  []string
	// files become the child's fds 0, 1, 2, ... in order.
	files []*os.File
	sys   *syscall.SysProcAttr
}

// child is a started process, ours to reap.
type child struct {
	Pid    int
	reaped bool
	status unix.WaitStatus
}

// start forks and executes the spec. The error reads as os/exec's did
// ("fork/exec PATH: ERRNO") and wraps the errno the kernel gave.
func (s *spawnSpec) start() (*child, error) {
	fds := make([]uintptr, len(s.files))
	for i, f := range s.files {
		fds[i] = f.Fd()
	}
	pid, err := syscall.ForkExec(s.path, s.args, &syscall.ProcAttr{Env: s.env, Files: fds, Sys: s.sys})
	// The fds must stay open until the child has its copies.
	runtime.KeepAlive(s.files)
	if err != nil {
		return nil, &os.PathError{Op: "fork/exec", Path: s.path, Err: err}
	}
	return &child{Pid: pid}, nil
}

// wait reaps the child once and says how it ended: nil for exit status 0,
// else an error worded as os/exec's ("exit status 1", "signal: killed").
func (c *child) wait() error {
	for !c.reaped {
		_, err := unix.Wait4(c.Pid, &c.status, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for process %d: %w", c.Pid, err)
		}
		c.reaped = true
	}
	switch {
	case c.status.Signaled():
		return fmt.Errorf("signal: %v", c.status.Signal())
	case c.status.ExitStatus() != 0:
		return fmt.Errorf("exit status %d", c.status.ExitStatus())
	}
	return nil
}

// kill ends the child, unless it is reaped already (its pid may then be
// another process's), and reaps it.
func (c *child) kill() {
	if c.reaped {
		return
	}
	unix.Kill(c.Pid, unix.SIGKILL)
	c.wait()
}

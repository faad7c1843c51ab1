package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/hooks"
)

// Start releases a created container: reading the exec fifo unblocks the
// init, which then runs the user's program. Poststart hooks run after; their
// failure is returned as a *HookWarning, the container keeps running.
func (c *Container) Start() error {
	if st := c.Status(); st != Created {
		return statusError(st, "created")
	}
	fd, err := unix.Open(c.fifoPath(), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	// Two things to read: the byte that releases the init, then the end of
	// file that says it has executed the program (the exec stage holds the
	// write end close-on-exec); the poststart hooks run after that, as the
	// spec orders. Before the byte, a read that finds no writer yet also
	// returns 0. Poll rather than block: if the init dies while we wait,
	// nobody would ever write to the fifo.
	buf := make([]byte, 1)
	released := false
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			released = true
			continue
		}
		if n == 0 && err == nil && released {
			break
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		// A short program may have been released, run and exited between
		// the read above and this check: its byte waits in the fifo.
		if !released && !alive(c.State.InitPid, c.State.InitStart) {
			if n, _ := unix.Read(fd, buf); n == 1 {
				released = true
				continue
			}
			return fmt.Errorf("init %d exited before start", c.State.InitPid)
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
	}
	if err := os.Remove(c.fifoPath()); err != nil {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	if h := c.State.Config.Hooks; h != nil && len(h.Poststart) > 0 {
		if err := hooks.RunAll("poststart", h.Poststart, c.OCIState()); err != nil {
			return &HookWarning{err}
		}
	}
	return nil
}

// HookWarning is a hook failure the spec says to log but not act on.
type HookWarning struct{ Err error }

func (w *HookWarning) Error() string { return w.Err.Error() }

// Signal sends sig to the init, or with all to every process of the
// container. The pid is checked against the recorded start time through a
// pidfd, so a recycled pid is never signalled.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	st := c.Status()
	if all && st == Stopped {
		return c.signalLeftovers(sig)
	}
	if st == Stopped {
		// runc's words, "container not running", are what containerd's
		// shim looks for to take a kill of an init that has just exited
		// as done (StopContainer racing the exit) rather than as a failed
		// stop that leaves the pod unremovable.
		return fmt.Errorf("container not running: %w", statusError(st, "created, running or paused"))
	}
	if st == Creating {
		return statusError(st, "created, running or paused")
	}
	if all {
		return c.signalAll(sig)
	}
	if err := c.signalInit(sig); err != nil {
		return err
	}
	if st == Paused && sig == unix.SIGKILL {
		// As runc: a SIGKILLed init in a frozen v1 cgroup dies only once
		// thawed, and a paused container killed is meant to be gone.
		if m, err := c.cgroupManager(); err == nil {
			m.Thaw()
		}
		// The thawed init dies when it next runs; a `state` right after
		// must not still find it (on a loaded host it may run late).
		c.awaitInitExit(2 * time.Second)
	}
	return nil
}

// awaitInitExit waits up to d for the init to exit (its pidfd becomes
// readable), and returns at once if it is already gone.
func (c *Container) awaitInitExit(d time.Duration) {
	pidfd, err := unix.PidfdOpen(c.State.InitPid, 0)
	if err != nil {
		return
	}
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if _, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds())+1); err != unix.EINTR {
			return
		}
	}
}

func (c *Container) signalInit(sig unix.Signal) error {
	pidfd, err := unix.PidfdOpen(c.State.InitPid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open of init %d: %w", c.State.InitPid, err)
	}
	defer unix.Close(pidfd)
	if !alive(c.State.InitPid, c.State.InitStart) {
		return statusError(Stopped, "created, running or paused")
	}
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal init %d: %w", c.State.InitPid, err)
	}
	return nil
}

// signalLeftovers signals what is left in a stopped container's cgroup
// (children of an init without a pid namespace). As in runc this is not an
// error when nothing is left: containerd's shim sends `kill --all` after
// every init exit, and a stopped container must accept it.
func (c *Container) signalLeftovers(sig unix.Signal) error {
	if len(c.State.CgroupPaths) == 0 {
		return nil
	}
	m, err := c.cgroupManager()
	if err != nil {
		return nil
	}
	if pids, err := m.Pids(); err != nil || len(pids) == 0 {
		return nil
	}
	return m.SignalAll(sig)
}

// signalAll signals every process in the container's cgroup, the init
// first (through its pidfd). The cgroup is frozen while the list is taken,
// so nothing forks past it, and thawed after a SIGKILL, so that a paused
// container's processes can die.
func (c *Container) signalAll(sig unix.Signal) error {
	if err := c.signalInit(sig); err != nil {
		return err
	}
	if len(c.State.CgroupPaths) == 0 && hasOwnNamespace(c.State.Config, specs.PIDNamespace) {
		// A rootless container has no cgroup; its own pid namespace
		// delimits it as well.
		return signalPidNamespace(c.State.InitPid, sig)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return fmt.Errorf("--all: %w", err)
	}
	return m.SignalAll(sig)
}

// Destroy deletes a stopped container (with force, any container, killing
// it first), runs the poststop hooks and removes its state. A poststop
// failure is returned as a *HookWarning after the state is gone.
func (c *Container) Destroy(force bool) error {
	if st := c.Status(); st != Stopped {
		if !force {
			return fmt.Errorf("status is %s (expected stopped; use --force to kill it)", st)
		}
		if err := c.killAndWait(); err != nil {
			return err
		}
	}
	// Whatever is left in the cgroup of a container without a pid
	// namespace (children of its stopped init) is killed; the directories
	// go, with retries while the kernel still counts exiting processes.
	// As runc, a cgroup that cannot be removed does not keep the state:
	// the container is gone either way, and the error names the cgroup.
	var cgErr error
	if len(c.State.CgroupPaths) > 0 {
		m, err := c.cgroupManager()
		if err == nil {
			m.KillLeftovers = !hasOwnNamespace(c.State.Config, specs.PIDNamespace)
			err = m.Destroy()
		}
		if err != nil {
			cgErr = err
		}
	}
	var warn error
	if h := c.State.Config; h != nil && h.Hooks != nil && len(h.Hooks.Poststop) > 0 {
		st := c.OCIState()
		st.Status = specs.StateStopped
		if err := hooks.RunAll("poststop", h.Hooks.Poststop, st); err != nil {
			warn = &HookWarning{err}
		}
	}
	if err := c.removeState(); err != nil {
		return err
	}
	if cgErr != nil {
		return cgErr
	}
	return warn
}

// killAndWait SIGKILLs the container's processes and waits until the init
// has exited.
func (c *Container) killAndWait() error {
	pidfd, err := unix.PidfdOpen(c.State.InitPid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open of init %d: %w", c.State.InitPid, err)
	}
	defer unix.Close(pidfd)
	if !alive(c.State.InitPid, c.State.InitStart) {
		return nil
	}
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	if m, err := c.cgroupManager(); err == nil {
		if !hasOwnNamespace(c.State.Config, specs.PIDNamespace) {
			// Every other process too: without a pid namespace of
			// their own they outlive the init. With one, the kernel
			// ends them, and what else is in the cgroup is not the
			// container's (as runc, it is left alone).
			m.SignalAll(unix.SIGKILL)
		}
		// A paused container's frozen init could not die otherwise.
		m.Thaw()
	}
	// A pidfd polls readable once its process has exited.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 100)
		if n > 0 || (err != nil && err != unix.EINTR) {
			return nil
		}
	}
	return fmt.Errorf("init %d did not exit within 10s of SIGKILL", c.State.InitPid)
}

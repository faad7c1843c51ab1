package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/hooks"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// Init is the Go half of `strata init`, the container's first process. The
// C constructor in nsenter/ has already put it in its namespaces. It returns
// only on failure, after sending the error to the parent.
func Init() {
	// Capabilities and PR_SET_KEEPCAPS are per thread: the setup from the
	// user change to execve must happen on one thread.
	runtime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv("_STRATA_INITPIPE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "strata init: not started by strata create or run")
		os.Exit(1)
	}
	sock := &syncSocket{fd}
	err = initContainer(sock)
	sock.send(msgError, []byte(err.Error()))
	os.Exit(1)
}

type initProc struct {
	sock    *syncSocket
	cfg     initConfig
	spec    *specs.Spec
	proc    *procfs
	rootfs  *rootfs.Config
	timings []phaseTiming
}

// initContainer is the container setup in the order runtime-spec and
// config.md require. Each step is a function of its own below.
func initContainer(sock *syncSocket) error {
	in := &initProc{sock: sock}
	payload, err := sock.expect(msgConfig)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(payload, &in.cfg); err != nil {
		return fmt.Errorf("init: bad config from the parent: %w", err)
	}
	in.spec = in.cfg.Spec
	// Opened first, while nothing in this mount namespace is the
	// container's doing yet.
	if in.proc, err = openProcfs(); err != nil {
		return err
	}
	if in.cfg.Exec {
		if err := in.awaitPlacement(); err != nil {
			return err
		}
	} else if err := in.setupContainer(); err != nil {
		return err
	}
	return in.startProcess()
}

// awaitPlacement waits until the parent has moved this process into the
// container's cgroups, and only then makes a new cgroup namespace, so
// that its root is the container's cgroup. unshare changes only this
// thread's namespace, which is the one that execs (Init locks it). The
// container's init does this just before its cgroup mounts (nothing
// before them forks, or shows cgroups); an exec'd process at once.
func (in *initProc) awaitPlacement() error {
	if !in.cfg.Placement {
		return nil
	}
	t, payload, err := in.sock.recv()
	if err != nil {
		return err
	}
	switch t {
	case msgPlaced:
	case msgPlaceFailed:
		return fmt.Errorf("cgroups: %s", payload)
	default:
		return fmt.Errorf("sync: got message %q, expected %q", t, msgPlaced)
	}
	if in.cfg.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("linux.namespaces: create cgroup namespace: %w", err)
		}
	}
	return nil
}

// setupContainer builds the container around the init: mounts, hooks,
// pivot_root, masked paths and the namespaces' kernel state. An exec'd
// process skips it: it joins what the init built.
func (in *initProc) setupContainer() error {
	if !hasNamespace(in.spec, specs.MountNamespace) {
		return in.shareHostMounts()
	}
	in.rootfs = &rootfs.Config{
		Spec: in.spec, Rootfs: in.cfg.Rootfs, Bundle: in.cfg.Bundle,
		NoPivot: in.cfg.NoPivot, InUserNS: hasNamespace(in.spec, specs.UserNamespace),
		// The mounts before the cgroup ones overlap the move.
		BeforeCgroups: in.awaitPlacement,
	}
	// Mounts, in config order, then /dev: all before the hooks that may
	// want to see or add to them.
	if err := in.phase("mounts", func() error { return rootfs.Prepare(in.rootfs) }); err != nil {
		return err
	}
	// prestart and createRuntime hooks run in the runtime namespace (the
	// parent), createContainer ones here; all before pivot_root.
	if err := in.phase("createContainer hooks", in.createHooks); err != nil {
		return err
	}
	if err := in.phase("pivot_root", func() error { return rootfs.Pivot(in.rootfs) }); err != nil {
		return err
	}
	// Masked and read-only paths after pivot_root, so that they apply to
	// the container's view, and root.readonly last of the mount work.
	if err := in.phase("masked and read-only paths", func() error { return rootfs.Finalize(in.rootfs) }); err != nil {
		return err
	}
	return in.phase("sysctl, hostname, keyring", in.setKernelState)
}

// shareHostMounts sets up a container without a mount namespace: every
// mount would be the host's, so there are none (nor masked paths); the
// container's root is a chroot, as runc makes it.
func (in *initProc) shareHostMounts() error {
	if err := in.awaitPlacement(); err != nil {
		return err
	}
	if err := in.phase("createContainer hooks", in.createHooks); err != nil {
		return err
	}
	if err := unix.Chroot(in.cfg.Rootfs); err != nil {
		return fmt.Errorf("root.path %q: chroot: %w", in.cfg.Rootfs, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("root.path %q: %w", in.cfg.Rootfs, err)
	}
	return in.phase("sysctl, hostname, keyring", in.setKernelState)
}

// startProcess gives the process its terminal and attributes, reports
// ready and hands over to the exec stage: the same for the container's
// init and for exec'd processes.
func (in *initProc) startProcess() error {
	if err := in.phase("terminal", in.setupTerminal); err != nil {
		return err
	}
	var proc *preparedProcess
	filter := newSeccompLoader(in.cfg.Seccomp, in.spec.Process, in.sock)
	if err := in.phase("process", func() error {
		x, err := newProcessExtras(in.spec, in.cfg.Exec, in.cfg.LSM, filter)
		if err != nil {
			return err
		}
		proc, err = prepareProcess(in.spec, in.proc, in.cfg.PreserveFDs, x)
		return err
	}); err != nil {
		return err
	}
	// A filter with a listener: loaded now, its fd sent before 'R'.
	if err := filter.beforeReady(); err != nil {
		return err
	}
	if in.cfg.Exec {
		// A detached exec's parent exits once it has 'R'.
		if err := clearDeathSignal(); err != nil {
			return err
		}
	}
	if err := in.sock.sendJSON(msgReady, &readyReport{Timings: in.timings, Warnings: proc.warnings, Notes: proc.notes}); err != nil {
		return err
	}
	if !in.cfg.Exec {
		// The death signal guards a half-made container until the parent
		// has it on record; then the parent may exit.
		if _, err := in.sock.expect(msgRelease); err != nil {
			return err
		}
		if err := clearDeathSignal(); err != nil {
			return err
		}
		if err := in.sock.send(msgReleased, nil); err != nil {
			return err
		}
	}
	fds := launchFDs{sync: in.sock.fd, procfs: in.proc.fd, fifo: in.cfg.FifoFD, exe: in.cfg.ExeFD, seccomp: filter}
	if h := in.spec.Hooks; !in.cfg.Exec && h != nil && len(h.StartContainer) > 0 {
		// The hooks need Go: wait for start here, not in the exec stage,
		// which gets the fifo's written end to hold until execve. As in
		// runc the hooks run under the container's filter: it is loaded
		// first (so the profile must allow what they do).
		if err := filter.beforeStartHooks(); err != nil {
			return err
		}
		fifo, err := in.waitForStart()
		if err != nil {
			return err
		}
		fds.fifo = fifo
	}
	return proc.exec(fds, in.spec.Process.Rlimits)
}

func clearDeathSignal() error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("init: clear the parent death signal: %w", err)
	}
	return nil
}

// setupTerminal starts the process's session, then makes a pty for a
// process with terminal: true and, for the container's init, binds it over
// /dev/console.
func (in *initProc) setupTerminal() error {
	// Every process leads a session of its own, as runc's do, terminal or
	// not: CRIU cannot checkpoint a container whose session leader is
	// outside its pid namespace (the shell that ran strata), and a hangup
	// of that shell's terminal must not reach the container.
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	p := in.spec.Process
	if !p.Terminal {
		return nil
	}
	if in.cfg.ConsoleFD < 0 {
		return errors.New("process.terminal: no console socket to send the pty to")
	}
	slave, err := setupConsole(in.cfg.ConsoleFD, p.ConsoleSize)
	if err != nil {
		return err
	}
	defer slave.Close()
	if in.cfg.Exec {
		return nil
	}
	return bindConsole(slave)
}

// phase runs one step and records how long it took (--debug shows it).
func (in *initProc) phase(name string, fn func() error) error {
	t0 := time.Now()
	err := fn()
	in.timings = append(in.timings, phaseTiming{name, time.Since(t0)})
	return err
}

func (in *initProc) createHooks() error {
	if !in.cfg.RuntimeHooks {
		return nil
	}
	if err := in.sock.send(msgRunHooks, nil); err != nil {
		return err
	}
	if _, err := in.sock.expect(msgHooksDone); err != nil {
		return err
	}
	if h := in.spec.Hooks; h != nil {
		return hooks.Run("createContainer", h.CreateContainer, in.cfg.State)
	}
	return nil
}

// setKernelState applies linux.sysctl, hostname, domainname and the
// session keyring: state of the container's own namespaces, set before the
// process drops the privileges it needs for them.
func (in *initProc) setKernelState() error {
	if in.spec.Linux != nil {
		for k, v := range in.spec.Linux.Sysctl {
			if err := in.proc.write("sys/"+strings.ReplaceAll(k, ".", "/"), v); err != nil {
				return fmt.Errorf("linux.sysctl %q: %w", k, err)
			}
		}
	}
	if in.spec.Hostname != "" {
		if err := unix.Sethostname([]byte(in.spec.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", in.spec.Hostname, err)
		}
	}
	if in.spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(in.spec.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", in.spec.Domainname, err)
		}
	}
	if p := in.spec.Process; p != nil && p.OOMScoreAdj != nil {
		if err := in.proc.write(strconv.Itoa(os.Getpid())+"/oom_score_adj", strconv.Itoa(*p.OOMScoreAdj)); err != nil {
			return fmt.Errorf("process.oomScoreAdj %d: %w", *p.OOMScoreAdj, err)
		}
	}
	if !in.cfg.NoNewKeyring {
		// A session keyring of its own, so the container cannot read the
		// host's keys. Kernels or seccomp profiles without keyrings
		// answer ENOSYS or EACCES: then there is nothing to isolate.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + in.cfg.ID); err != nil && err != unix.ENOSYS && err != unix.EACCES {
			return fmt.Errorf("join a new session keyring: %w", err)
		}
	}
	return nil
}

// waitForStart is the created state of a container with startContainer
// hooks: it blocks on the exec fifo until `start` opens it for reading,
// runs the hooks, and only then writes the byte `start` waits for, so that
// `start` runs the poststart hooks after them. (Without such hooks the
// exec stage waits, in far less memory.)
func (in *initProc) waitForStart() (int, error) {
	f, err := in.proc.reopen(in.cfg.FifoFD, unix.O_WRONLY)
	if err != nil {
		return -1, fmt.Errorf("open exec fifo: %w", err)
	}
	st := *in.cfg.State
	st.Status = specs.StateCreated
	if err := hooks.Run("startContainer", in.spec.Hooks.StartContainer, &st); err != nil {
		f.Close()
		return -1, err
	}
	if _, err := f.Write([]byte{0}); err != nil {
		f.Close()
		return -1, fmt.Errorf("write exec fifo: %w", err)
	}
	// Detached from the *os.File so no finalizer closes it early.
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return -1, fmt.Errorf("exec fifo: %w", err)
	}
	return fd, nil
}

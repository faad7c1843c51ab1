package libcontainer

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/capabilities"
	"github.com/strata-runtime/strata/libcontainer/hooks"
	"github.com/strata-runtime/strata/libcontainer/host"
	"github.com/strata-runtime/strata/libcontainer/identity"
	"github.com/strata-runtime/strata/libcontainer/plan"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// Init is the Go half of `strata init`, the container's first process, for
// a spec whose rootfs the plan cannot build (plan.Rootfs says why; the
// others never start Go in the init: initplan_linux.go). The C constructor
// in nsenter/ has already put it in its namespaces. It returns only on
// failure, after sending the error to the parent.
func Init() {
	// Namespaces are per thread: the cgroup namespace this init unshares
	// (awaitPlacement) must be the one of the thread that execs the stage.
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
	trees   map[int]*os.File // the parent's mount trees, by index in mounts
	timings []phaseTiming
}

// receiveConfig reads the parent's mount trees ('F', see sendMountTrees)
// and then the config ('C').
func (in *initProc) receiveConfig() ([]byte, map[int]*os.File, error) {
	trees := map[int]*os.File{}
	for {
		t, payload, fd, err := in.sock.recvMsg()
		if err != nil {
			return nil, nil, err
		}
		switch t {
		case msgConfig:
			closeIfValid(fd)
			return payload, trees, nil
		case msgMountTree:
			i, err := strconv.Atoi(string(payload))
			if fd < 0 || err != nil {
				closeIfValid(fd)
				return nil, nil, fmt.Errorf("sync: bad mount tree message %q", payload)
			}
			trees[i] = os.NewFile(uintptr(fd), "mounts["+string(payload)+"]")
		default:
			closeIfValid(fd)
			return nil, nil, fmt.Errorf("sync: got message %q, expected %q", t, msgConfig)
		}
	}
}

// initContainer is the container setup in the order runtime-spec and
// config.md require. Each step is a function of its own below.
func initContainer(sock *syncSocket) error {
	in := &initProc{sock: sock}
	payload, trees, err := in.receiveConfig()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(payload, &in.cfg); err != nil {
		return fmt.Errorf("init: bad config from the parent: %w", err)
	}
	in.spec = in.cfg.Spec
	in.trees = trees
	// Opened first, while nothing in this mount namespace is the
	// container's doing yet.
	if in.proc, err = openProcfs(); err != nil {
		return err
	}
	if err := in.setupContainer(); err != nil {
		return err
	}
	return in.startProcess()
}

// awaitPlacement waits until the parent has moved this process into the
// container's cgroups, and only then makes a new cgroup namespace, so
// that its root is the container's cgroup. unshare changes only this
// thread's namespace, which is the one that execs (Init locks it). The
// init does this just before its cgroup mounts: nothing before them
// forks, or shows cgroups.
func (in *initProc) awaitPlacement() error {
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
// pivot_root, masked paths and the namespaces' kernel state.
func (in *initProc) setupContainer() error {
	if !hasNamespace(in.spec, specs.MountNamespace) {
		return in.shareHostMounts()
	}
	in.rootfs = &rootfs.Config{
		Spec: in.spec, Rootfs: in.cfg.Rootfs, Bundle: in.cfg.Bundle,
		// In a user namespace of its own, or in the one strata was
		// started in (rootless podman's): mknod and some mounts are
		// refused either way.
		NoPivot: in.cfg.NoPivot, InUserNS: hasNamespace(in.spec, specs.UserNamespace) || host.InUserNamespace(),
		MountFiles: in.trees,
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

// startProcess compiles the plan of the container's process (its
// terminal, attributes, identity, capabilities, seccomp, the created state
// and the program) and hands over to the exec stage, which carries it out
// in C: the process that waits in the created state runs no Go. What this
// Go half timed and found worth a warning goes to the parent first.
func (in *initProc) startProcess() error {
	p := in.spec.Process
	t0 := time.Now()
	last, err := capabilities.KernelLast()
	if err != nil {
		return err
	}
	startState, err := hookState(startHooks(in.spec), *in.cfg.State, specs.StateCreated)
	if err != nil {
		return err
	}
	pl, err := plan.Process(plan.ProcessInput{
		Spec: in.spec,
		// HOME from the container's /etc/passwd, now that it is the root.
		Env:              identity.WithHome(p.Env, func() string { return identity.HomeDir("/", p.User.UID) }),
		LastCap:          last,
		SetgroupsAllowed: in.proc.setgroupsAllowed(),
		PreserveFDs:      in.cfg.PreserveFDs,
		ConsoleFD:        in.cfg.ConsoleFD,
		ProcfsFD:         in.proc.fd,
		FifoFD:           in.cfg.FifoFD,
		Seccomp:          filterOf(in.cfg.Seccomp),
		ApparmorExec:     in.cfg.LSM.ApparmorExec,
		SelinuxExec:      in.cfg.LSM.SelinuxExec,
		NofileSoft:       savedNofile(),
		StartState:       startState,
		Timings:          in.cfg.Timings,
	})
	if err != nil {
		return err
	}
	in.timings = append(in.timings, phaseTiming{"compile the process plan", time.Since(t0)})
	if err := in.sock.sendJSON(msgReport, &readyReport{Timings: in.timings, Warnings: pl.Warnings}); err != nil {
		return err
	}
	return execStage(in.sock.fd, in.cfg.ExeFD, pl, in.proc.fd, in.cfg.FifoFD, in.cfg.ConsoleFD)
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

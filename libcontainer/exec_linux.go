package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/capabilities"
	"github.com/strata-runtime/strata/libcontainer/cgroups"
	"github.com/strata-runtime/strata/libcontainer/identity"
	"github.com/strata-runtime/strata/libcontainer/plan"
)

// ExecOpts describe a process to start in a running container.
type ExecOpts struct {
	Process      *specs.Process // validated
	PreserveFDs  int
	Console      *os.File // connected console socket, for Process.Terminal
	IgnorePaused bool
	// SubCgroups puts the process below the container's cgroup: a path
	// by controller ("" for all), as `exec --cgroup` gives them.
	SubCgroups map[string]string
	// Warn receives what the process could not be given but did not fail
	// on (capabilities unknown to strata or to the kernel).
	Warn   func(msg string)
	Timing func(phase string, d time.Duration)
}

// Exec starts a process in the container: it joins every namespace of the
// container's init, then the plan executor (nsenter/executor.c) carries out
// the plan compiled here, from the container's state, by the same code as
// the container's own process; no Go runtime starts in the process. It
// returns once the process is set up; ExecResult tells how its execve went.
func (c *Container) Exec(o ExecOpts) (*InitProcess, error) {
	st := c.Status()
	switch {
	case st == Paused && !o.IgnorePaused:
		return nil, errors.New("status is paused (resume it, or use --ignore-paused)")
	case st != Running && st != Created && st != Paused:
		return nil, statusError(st, "created or running")
	}
	t0 := time.Now()
	bootstrap, err := c.joinMessage()
	if err != nil {
		return nil, err
	}
	cgPaths, err := c.execCgroupPaths(o.SubCgroups)
	if err != nil {
		return nil, err
	}
	l := &launch{bootstrap: append(bootstrap, "plan\x00"...), preserveFDs: o.PreserveFDs, console: o.Console, timing: o.Timing}
	l.layoutFDs()
	pl, err := c.execPlan(o, l)
	if err != nil {
		return nil, err
	}
	for _, w := range pl.Warnings {
		o.warn(w)
	}
	// The process enters the container's cgroups, the ones its create
	// recorded, as it starts (cgroups.Entry). Not a paused container's:
	// a child frozen before its execve would hold this process in
	// clone3's vfork wait (or before its first message) until resume;
	// moved in later (joinCgroup), it freezes where the protocol waits
	// for it. Nor with execCPUAffinity.initial, the CPUs "before the
	// transition to the container's cgroup": entered at once, there is no
	// before (and 6.4+ kernels give a child born in another cpuset that
	// cpuset's CPUs).
	tcg := time.Now()
	initialCPUs := o.Process.ExecCPUAffinity != nil && o.Process.ExecCPUAffinity.Initial != ""
	if st != Paused && !initialCPUs && len(cgPaths) > 0 {
		if l.entry, err = cgroups.OpenEntry(cgPaths); err != nil {
			return nil, err
		}
	}
	prep := time.Since(tcg)
	defer l.entry.Close()
	// execCPUAffinity.initial: the process starts on those CPUs, until it
	// is moved to the container's cgroup.
	var p *InitProcess
	runtime.LockOSThread()
	err = applyInitialAffinity(o.Process, func() (err error) {
		p, err = l.start()
		return err
	})
	runtime.UnlockOSThread()
	if err != nil {
		return nil, err
	}
	if err := p.sync.send(msgPlan, pl.Encode()); err != nil {
		p.kill()
		return nil, fmt.Errorf("send the plan to the process: %w", p.failed(err))
	}
	// Into the container's cgroups (limits, freezer, kill --all, ps) while
	// the process starts; it waits for that before it runs the program.
	if len(cgPaths) > 0 {
		p.placeAsync(l.joinCgroup(prep, c.joinCgroup(cgPaths)))
	} else {
		p.placeAsync(func(int) error { return nil }) // a rootless container: no cgroup
	}
	r, err := c.serveInit(p, nil)
	if err != nil {
		err = p.failed(err)
		p.kill()
		return nil, err
	}
	for _, w := range r.Warnings {
		o.warn(w)
	}
	for _, pt := range r.Timings {
		o.timing(pt.Phase, pt.D)
	}
	o.timing("exec setup", time.Since(t0))
	return p, nil
}

// execPlan compiles the exec'd process's plan from the container's state:
// its spec with o's process, and facts read from the running init.
func (c *Container) execPlan(o ExecOpts, l *launch) (*plan.Plan, error) {
	spec := *c.State.Config
	spec.Process = o.Process
	// The container's filter, from the cache its create filled.
	sc, err := c.seccompProgram()
	if err != nil {
		return nil, err
	}
	lsm, err := planLSM(&spec)
	if err != nil {
		return nil, err
	}
	last, err := capabilities.KernelLast()
	if err != nil {
		return nil, err
	}
	pid := c.State.InitPid
	return plan.Process(plan.ProcessInput{
		Spec:             &spec,
		Exec:             true,
		Env:              identity.WithHome(o.Process.Env, func() string { return containerHome(pid, o.Process.User.UID) }),
		LastCap:          last,
		SetgroupsAllowed: setgroupsAllowed(pid),
		PreserveFDs:      o.PreserveFDs,
		ConsoleFD:        l.consoleFD,
		ProcfsFD:         -1,
		FifoFD:           -1,
		Seccomp:          filterOf(sc),
		ApparmorExec:     lsm.ApparmorExec,
		SelinuxExec:      lsm.SelinuxExec,
		Timings:          o.Timing != nil,
	})
}

// containerHome is uid's home in the container's /etc/passwd as the init
// sees it (its mounts included), resolved inside the container's root so
// that a symlink cannot point the parent at a host file; "/" without one.
// A regular file only: a fifo planted there must not block the parent.
func containerHome(pid int, uid uint32) string {
	return homeBeneath(fmt.Sprintf("/proc/%d/root", pid), uid)
}

// homeBeneath is uid's home in the /etc/passwd of the root directory at
// rootPath, resolved inside it.
func homeBeneath(rootPath string, uid uint32) string {
	root, err := unix.Open(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "/"
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, "etc/passwd", &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return "/"
	}
	f := os.NewFile(uintptr(fd), "/etc/passwd")
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "/"
	}
	return identity.HomeIn(f, uid)
}

// setgroupsAllowed: a user namespace whose setgroups file says "deny"
// refuses setgroups(2); additionalGids are then left as they are.
func setgroupsAllowed(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/setgroups", pid))
	return err != nil || strings.TrimSpace(string(b)) != "deny"
}

func (o *ExecOpts) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
}

func (o *ExecOpts) timing(phase string, d time.Duration) {
	if o.Timing != nil {
		o.Timing(phase, d)
	}
}

// joinMessage is a bootstrap that joins each namespace of the container's
// init that this process is not already in. (setns into one's own user
// namespace fails, and the rest would only cost a syscall.)
func (c *Container) joinMessage() ([]byte, error) {
	// Each namespace is looked up in the two ns directories, opened once:
	// sixteen stats of whole /proc paths were 3% of an exec's CPU.
	theirDir := fmt.Sprintf("/proc/%d/ns", c.State.InitPid)
	theirs, err := unix.Open(theirDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("namespaces of init %d: open %s: %w", c.State.InitPid, theirDir, err)
	}
	defer unix.Close(theirs)
	ours, err := unix.Open("/proc/self/ns", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("own namespaces: open /proc/self/ns: %w", err)
	}
	defer unix.Close(ours)
	var b strings.Builder
	b.WriteString("clone=0\x00")
	for _, t := range joinOrder {
		name := procNSName[t]
		var a, o unix.Stat_t
		if err := unix.Fstatat(theirs, name, &a, 0); err != nil {
			if t == specs.TimeNamespace || t == specs.CgroupNamespace {
				continue // kernels without them
			}
			return nil, fmt.Errorf("%s namespace of init %d: %w", name, c.State.InitPid, err)
		}
		if err := unix.Fstatat(ours, name, &o, 0); err == nil && a.Ino == o.Ino && a.Dev == o.Dev {
			continue
		}
		fmt.Fprintf(&b, "join=%d:%s/%s\x00", nsFlags[t], theirDir, name)
	}
	if !alive(c.State.InitPid, c.State.InitStart) {
		return nil, statusError(Stopped, "created or running")
	}
	return []byte(b.String()), nil
}

// procNSName is each namespace's file name under /proc/PID/ns.
var procNSName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

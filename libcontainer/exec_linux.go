package libcontainer

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
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
// container's init and gets its attributes through the same init code as
// the container's own first process. It returns once the process is set
// up; the exec stage then runs the program (ExecResult tells how that went).
func (c *Container) Exec(o ExecOpts) (*InitProcess, error) {
	st := c.Status()
	switch {
	case st == Paused && !o.IgnorePaused:
		return nil, fmt.Errorf("cannot exec in container %q: it is paused (resume it, or use --ignore-paused)", c.State.ID)
	case st != Running && st != Created && st != Paused:
		return nil, statusError("exec in", c.State.ID, st, "created or running")
	}
	t0 := time.Now()
	bootstrap, err := c.joinMessage()
	if err != nil {
		return nil, err
	}
	// The container's filter, from the cache its create filled.
	sc, err := c.seccompProgram()
	if err != nil {
		return nil, err
	}
	spec := *c.State.Config
	spec.Process = o.Process
	lsm, err := planLSM(&spec)
	if err != nil {
		return nil, err
	}
	cgPaths, err := c.execCgroupPaths(o.SubCgroups)
	if err != nil {
		return nil, err
	}
	l := &launch{bootstrap: bootstrap, preserveFDs: o.PreserveFDs, console: o.Console, timing: o.Timing}
	// On cgroup v2 the process is born in the container's cgroup, the one
	// its create recorded (nil on v1 and hybrid hosts: joinCgroup moves
	// it). Not into a paused container's: a child frozen before its
	// execve would hold this process in clone3's vfork wait until resume;
	// moved in later, it freezes where the protocol waits for it. Nor with
	// execCPUAffinity.initial, the CPUs "before the transition to the
	// container's cgroup": born there, there is no before (and 6.4+
	// kernels give a child born in another cpuset that cpuset's CPUs).
	tcg := time.Now()
	initialCPUs := o.Process.ExecCPUAffinity != nil && o.Process.ExecCPUAffinity.Initial != ""
	if st != Paused && !initialCPUs {
		if l.cgroupFD, err = cgroups.OpenForExec(cgPaths); err != nil {
			return nil, err
		}
	}
	prep := time.Since(tcg)
	if l.cgroupFD != nil {
		defer l.cgroupFD.Close()
	}
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
	cfg := initConfig{ID: c.State.ID, Spec: &spec, PreserveFDs: o.PreserveFDs, Exec: true,
		State: c.OCIState(), Placement: true, Seccomp: sc, LSM: lsm}
	l.setFDs(&cfg)
	if err := p.sync.sendJSON(msgConfig, &cfg); err != nil {
		p.kill()
		return nil, fmt.Errorf("send config to the process: %w", p.failed(err))
	}
	// Into the container's cgroups (limits, freezer, kill --all, ps) while
	// the process starts; it waits for that before it runs the program.
	p.placeAsync(l.joinCgroup(prep, c.joinCgroup(cgPaths)))
	r, err := c.serveInit(p, nil)
	if err != nil {
		err = p.failed(err)
		p.kill()
		return nil, err
	}
	for _, w := range r.Warnings {
		if o.Warn != nil {
			o.Warn(w)
		}
	}
	if o.Timing != nil {
		o.Timing("exec setup", time.Since(t0))
	}
	return p, nil
}

// joinMessage is a bootstrap that joins each namespace of the container's
// init that this process is not already in. (setns into one's own user
// namespace fails, and the rest would only cost a syscall.)
func (c *Container) joinMessage() ([]byte, error) {
	var b strings.Builder
	b.WriteString("clone=0\x00")
	for _, t := range joinOrder {
		name := procNSName[t]
		theirs := fmt.Sprintf("/proc/%d/ns/%s", c.State.InitPid, name)
		var a, o unix.Stat_t
		if err := unix.Stat(theirs, &a); err != nil {
			if t == specs.TimeNamespace || t == specs.CgroupNamespace {
				continue // kernels without them
			}
			return nil, fmt.Errorf("container %q: %s namespace of init %d: %w", c.State.ID, name, c.State.InitPid, err)
		}
		if err := unix.Stat("/proc/self/ns/"+name, &o); err == nil && a.Ino == o.Ino && a.Dev == o.Dev {
			continue
		}
		fmt.Fprintf(&b, "join=%d:%s\x00", nsFlags[t], theirs)
	}
	if !alive(c.State.InitPid, c.State.InitStart) {
		return nil, statusError("exec in", c.State.ID, Stopped, "created or running")
	}
	return []byte(b.String()), nil
}

// procNSName is each namespace's file name under /proc/PID/ns.
var procNSName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

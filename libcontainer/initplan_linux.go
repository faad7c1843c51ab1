package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/capabilities"
	"github.com/strata-runtime/strata/libcontainer/cgroups"
	"github.com/strata-runtime/strata/libcontainer/host"
	"github.com/strata-runtime/strata/libcontainer/identity"
	"github.com/strata-runtime/strata/libcontainer/plan"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// The container's init compiled here, in the parent: the steps of its root
// filesystem (plan.Rootfs) and of its process (plan.Process), which the
// plan executor (nsenter/executor.c) carries out as the init starts, so
// that no Go runtime starts in it. Where plan.Rootfs cannot express the
// spec, the Go half of the init (init_linux.go) builds the rootfs instead.

// rootfsPlan is the rootfs steps and the facts they were compiled from.
type rootfsPlan struct {
	in    plan.RootfsInput
	steps *plan.Plan
}

// compileRootfs gathers the facts and compiles the rootfs steps, or says
// why the Go init must build the rootfs. Called before the init starts:
// its bootstrap says which.
func (c *Container) compileRootfs(o *CreateOpts, cg *cgroups.Manager) (*rootfsPlan, string) {
	s := o.Spec
	if passwdMounted(s) {
		// HOME comes from the rootfs's /etc/passwd, read here before
		// the init mounts anything over it.
		return nil, "a mount over /etc/passwd"
	}
	in := plan.RootfsInput{
		Spec: s, ID: o.ID, Rootfs: c.State.Rootfs, Bundle: o.Bundle,
		NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring,
		NewCgroupNS: hasOwnNamespace(s, specs.CgroupNamespace),
		InUserNS:    hasNamespace(s, specs.UserNamespace) || host.InUserNamespace(),
		ParentTrees: parentTrees(s),
	}
	// A "cgroup" mount is cgroup2 on a pure v2 host, else a tmpfs of the
	// host's hierarchies.
	if hasMount(s, "cgroup") {
		if in.PureCgroup2 = rootfs.PureCgroup2(); !in.PureCgroup2 {
			hs, err := rootfs.HostHierarchies()
			if err != nil {
				return nil, fmt.Sprintf("the host's cgroup hierarchies: %v", err)
			}
			in.Hierarchies = hs
		}
	}
	if in.InUserNS && hasMount(s, "cgroup", "cgroup2") {
		in.Cgroup2Dir = cgroup2Dir(cg)
	}
	if l := s.Linux; l != nil && (l.RootfsPropagation == "shared" || l.RootfsPropagation == "rshared") {
		parent, err := rootfs.RootfsParentMount(in.Rootfs)
		if err != nil || parent == "" {
			return nil, fmt.Sprintf("shared rootfsPropagation, the mount holding the rootfs unknown (%v)", err)
		}
		in.RootfsParent = parent
	}
	var st unix.Stat_t
	in.Kcore = unix.Stat("/proc/kcore", &st) == nil
	steps, why := plan.Rootfs(in)
	if why != "" {
		return nil, why
	}
	return &rootfsPlan{in, steps}, ""
}

// hookState is the state JSON hooks that run in the container's namespaces
// read on stdin, with status; nil without hooks to read it.
func hookState(hooks []specs.Hook, st specs.State, status specs.ContainerState) ([]byte, error) {
	if len(hooks) == 0 {
		return nil, nil
	}
	st.Status = status
	return json.Marshal(&st)
}

// startHooks are the spec's startContainer hooks.
func startHooks(s *specs.Spec) []specs.Hook {
	if s.Hooks == nil {
		return nil
	}
	return s.Hooks.StartContainer
}

// processUmask is this process's umask, which /proc/self/status shows
// (Linux 4.7): umask(2) can only read it by changing it, for every thread.
func processUmask() (uint32, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return uint32(m), err
		}
	}
	return 0, errors.New("/proc/self/status has no Umask line")
}

// hasMount: the spec mounts a filesystem of one of these types.
func hasMount(s *specs.Spec, types ...string) bool {
	for _, m := range s.Mounts {
		if slices.Contains(types, m.Type) {
			return true
		}
	}
	return false
}

// cgroup2Dir is the host path of the cgroup2 directory the init will be
// in: the container's, or, without a cgroup of its own (rootless), this
// process's, where the init is born. "" where neither is known.
func cgroup2Dir(cg *cgroups.Manager) string {
	if cg != nil {
		return cg.Paths()[""]
	}
	dir, err := rootfs.OwnCgroup2Dir()
	if err != nil {
		return ""
	}
	return dir
}

// passwdMounted: the process gets HOME from /etc/passwd and a spec mount
// replaces it (or /etc).
func passwdMounted(s *specs.Spec) bool {
	for _, e := range s.Process.Env {
		if strings.HasPrefix(e, "HOME=") {
			return false
		}
	}
	for _, m := range s.Mounts {
		if d := filepath.Clean(m.Destination); d == "/etc" || d == "/etc/passwd" {
			return true
		}
	}
	return false
}

// sendInitPlan sends the init its whole plan ('Q'): the plan executor
// runs it before any Go runtime would start in the init.
func (c *Container) sendInitPlan(o *CreateOpts, l *launch, p *InitProcess, rp *rootfsPlan, lsm lsmPlan) error {
	t0 := time.Now()
	pl, err := c.initPlan(o, l, rp, lsm)
	if err != nil {
		return err
	}
	o.timing("compile the process plan", time.Since(t0))
	if err := p.sync.send(msgPlan, pl.Encode()); err != nil {
		return p.failed(fmt.Errorf("send the plan to the init: %w", err))
	}
	// Right after the plan, whose first steps receive them.
	return sendMountTrees(p, o.Spec, o.Bundle, rp.in.ParentTrees)
}

// initPlan is the whole plan of the container's init: rootfs steps then
// its process's, compiled once the init exists (the hooks' state names its
// pid). Warnings go to the caller.
func (c *Container) initPlan(o *CreateOpts, l *launch, rp *rootfsPlan, lsm lsmPlan) (*plan.Plan, error) {
	proc := o.Spec.Process
	last, err := capabilities.KernelLast()
	if err != nil {
		return nil, err
	}
	rootfsSteps := rp.steps
	if h := o.Spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		// Compiled again with the state the hooks read, which has the
		// init's pid, and the umask they run with.
		if rp.in.CreateState, err = hookState(h.CreateContainer, *c.OCIState(), specs.StateCreating); err != nil {
			return nil, err
		}
		if rp.in.Umask, err = processUmask(); err != nil {
			return nil, err
		}
		var why string
		if rootfsSteps, why = plan.Rootfs(rp.in); why != "" {
			return nil, fmt.Errorf("init plan: %s", why) // as before the init started: not reached
		}
	}
	startState, err := hookState(startHooks(o.Spec), *c.OCIState(), specs.StateCreated)
	if err != nil {
		return nil, err
	}
	pp, err := plan.Process(plan.ProcessInput{
		Spec: o.Spec,
		// HOME from the rootfs's /etc/passwd, resolved inside it.
		Env:     identity.WithHome(proc.Env, func() string { return homeBeneath(c.State.Rootfs, proc.User.UID) }),
		LastCap: last,
		// Only a user namespace can deny it (its setgroups file).
		SetgroupsAllowed: !rp.in.InUserNS || setgroupsAllowed(c.State.InitPid),
		PreserveFDs:      o.PreserveFDs,
		ConsoleFD:        l.consoleFD,
		ProcfsFD:         -1, // the rootfs steps' private procfs
		FifoFD:           l.fifoFD,
		Seccomp:          filterOf(o.Seccomp),
		ApparmorExec:     lsm.ApparmorExec,
		SelinuxExec:      lsm.SelinuxExec,
		StartState:       startState,
		Timings:          o.Timing != nil,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range pp.Warnings {
		o.warn(w)
	}
	return &plan.Plan{Steps: append(rootfsSteps.Steps[:len(rootfsSteps.Steps):len(rootfsSteps.Steps)], pp.Steps...)}, nil
}

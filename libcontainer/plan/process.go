package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/capabilities"
	"github.com/strata-runtime/strata/libcontainer/rlimit"
)

// ProcessInput is what a process's plan is compiled from: the spec, the
// facts of the host and of the container it joins, and where the process
// finds its files. The caller gathers the facts; Process only decides.
type ProcessInput struct {
	// Spec is the container's spec with Process the process to start
	// (validated by specconv).
	Spec *specs.Spec
	// Exec: a process joining a running container (`strata exec`), not
	// the container's init.
	Exec bool
	// Env is Process.Env with HOME added as runc adds it (the caller reads
	// the container's /etc/passwd).
	Env []string
	// LastCap is the running kernel's last capability.
	LastCap capability.Cap
	// SetgroupsAllowed is false in a user namespace whose setgroups file
	// says "deny": additionalGids are then left as the namespace gave them.
	SetgroupsAllowed bool
	PreserveFDs      int
	// ConsoleFD is the console socket's fd in the process (terminal: true).
	ConsoleFD int
	// ProcfsFD is the init's private procfs; -1 for the executor to mount
	// one (an exec'd process, only when an LSM label needs it).
	ProcfsFD int
	// FifoFD is the O_PATH fd of the exec fifo (the container's init).
	FifoFD int
	// Seccomp is the compiled linux.seccomp filter, nil without one.
	Seccomp *Filter
	// ApparmorExec and SelinuxExec are the labels for execve (decided from
	// the host's LSMs by the caller).
	ApparmorExec, SelinuxExec string
	// NofileSoft, when not nil, is the soft RLIMIT_NOFILE to give back to
	// the program when the spec sets none: the Go init raised it.
	NofileSoft *uint64
	// StartState is the state JSON the startContainer hooks read.
	StartState []byte
	// Timings: the ready report carries the steps' timings (--debug).
	Timings bool
}

// Filter is a compiled seccomp program.
type Filter struct {
	BPF    []byte
	Flags  uint
	Notify bool // SCMP_ACT_NOTIFY: load with a listener, sent to the parent
}

// Process compiles the plan of one process, from its session and terminal
// to execve, in the order the kernel allows: rlimits and scheduling while
// still privileged; the bounding set before the user change (it needs
// CAP_SETPCAP); cwd, LSM label and fd clean-up before a filter that may
// have to be loaded early; uid and gid with capabilities kept; the other
// capability sets and no_new_privs; then ready, start and execve.
func Process(in ProcessInput) (*Plan, error) {
	p := &Plan{}
	proc := in.Spec.Process
	if proc == nil || len(proc.Args) == 0 {
		return nil, errors.New("process.args: must name a program to run")
	}
	for _, s := range append(append([]string(nil), proc.Args...), in.Env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("process: %q contains a NUL byte", s)
		}
	}
	caps, err := capabilities.NewForKernel(proc.Capabilities, in.LastCap)
	if err != nil {
		return nil, err
	}
	p.Warnings = caps.Warnings()
	if in.Exec {
		// Into the container's cgroups (limits, freezer, kill --all) before
		// anything the cgroups must count.
		p.add(OpAwaitPlacement, "cgroups")
	}
	// Every process leads a session of its own, as runc's do, terminal or
	// not: CRIU cannot checkpoint a container whose session leader is
	// outside its pid namespace, and a hangup of the caller's terminal
	// must not reach the container.
	p.add(OpSetsid, "setsid")
	if err := p.terminal(in); err != nil {
		return nil, err
	}
	if err := p.rlimits(proc.Rlimits, in.NofileSoft); err != nil {
		return nil, err
	}
	if err := p.attributes(in.Spec, in.Exec); err != nil {
		return nil, err
	}
	bounding, effective, permitted, inheritable, ambient := caps.Sets()
	names := capNames(in.LastCap)
	p.add(OpCapBounding, "capabilities: drop from the bounding set", I(bounding), I(in.LastCap), S(names)).EPERM = "needs CAP_SETPCAP"
	// Into the working directory while still root, as runc does: a cwd
	// that root reaches but the user cannot still works; on EACCES it is
	// tried again as the user.
	cwd := proc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	p.add(OpChdir, fmt.Sprintf("process.cwd %q", cwd), S(cwd), I(1))
	p.lsm(in)
	// Nothing but stdio and the preserved fds may reach the program
	// (CVE-2024-21626 leaked a host directory fd): one syscall marks the
	// rest close-on-exec, the sync socket included, which so tells the
	// parent that execve happened.
	p.add(OpCloseFrom, "mark fds close-on-exec", I(3+in.PreserveFDs))
	// A pty left owned by root is a terminal the user's shell cannot use.
	p.add(OpStdioOwner, fmt.Sprintf("process.user: give stdio to uid %d", proc.User.UID), I(proc.User.UID))
	seccompAt := p.seccompMoment(in)
	if seccompAt == loadBeforeCredentials {
		p.seccomp(in.Seccomp)
	}
	if err := p.identity(proc.User, in.SetgroupsAllowed); err != nil {
		return nil, err
	}
	if effective&^permitted != 0 {
		return nil, fmt.Errorf("process.capabilities.effective: %s not in the permitted set", maskNames(effective&^permitted, names))
	}
	p.add(OpCaps, "capabilities", I(effective), I(permitted), I(inheritable), I(ambient), I(in.LastCap), S(names))
	if proc.NoNewPrivileges {
		p.add(OpNoNewPrivs, "process.noNewPrivileges")
	}
	p.add(OpChdirDeferred, fmt.Sprintf("process.cwd %q", cwd), S(cwd))
	p.add(OpFindProgram, fmt.Sprintf("process.args[0] %q", proc.Args[0]), S(proc.Args[0]), S(pathOf(in.Env)))
	if seccompAt == loadBeforeReady {
		p.seccomp(in.Seccomp)
	}
	if in.Exec {
		// A detached exec's parent exits once it has 'R'.
		p.add(OpClearDeathSig, "clear the parent death signal")
	}
	p.add(OpReady, "report ready", I(boolInt(in.Timings)))
	if !in.Exec {
		// The death signal guards a half-made container until the parent
		// has it on record.
		p.add(OpRelease, "release")
		if err := p.awaitStart(in, seccompAt); err != nil {
			return nil, err
		}
	}
	if seccompAt == loadLast {
		p.seccomp(in.Seccomp)
	}
	p.add(OpExec, "exec", execArgs(proc.Args, in.Env)...)
	return p, nil
}

func (p *Plan) terminal(in ProcessInput) error {
	proc := in.Spec.Process
	if !proc.Terminal {
		return nil
	}
	if in.ConsoleFD < 0 {
		return errors.New("process.terminal: no console socket to send the pty to")
	}
	var rows, cols uint
	if s := proc.ConsoleSize; s != nil {
		rows, cols = s.Height, s.Width
	}
	// The container's init binds its pty over /dev/console, as runc does.
	bind := 0
	if !in.Exec {
		bind = 1
	}
	p.add(OpTerminal, "process.terminal", I(in.ConsoleFD), I(rows), I(cols), I(bind))
	return nil
}

func (p *Plan) rlimits(rls []specs.POSIXRlimit, nofileSoft *uint64) error {
	nofileSet := false
	for i, rl := range rls {
		res, err := rlimit.Parse(rl.Type)
		if err != nil {
			return fmt.Errorf("process.rlimits[%d]: %w", i, err)
		}
		if rl.Soft > rl.Hard {
			return fmt.Errorf("process.rlimits[%d] %s: soft limit %d exceeds hard limit %d", i, rl.Type, rl.Soft, rl.Hard)
		}
		nofileSet = nofileSet || rl.Type == "RLIMIT_NOFILE"
		p.add(OpRlimit, fmt.Sprintf("process.rlimits[%d] %s: set soft %d hard %d", i, rl.Type, rl.Soft, rl.Hard),
			I(res), I(rl.Soft), I(rl.Hard), I(0)).EPERM = "raising a hard limit needs CAP_SYS_RESOURCE, which the bounding set may lack"
	}
	if nofileSoft != nil && !nofileSet {
		// The limit strata was started with: the Go init raised it.
		res, _ := rlimit.Parse("RLIMIT_NOFILE")
		p.add(OpRlimit, "restore RLIMIT_NOFILE", I(res), I(*nofileSoft), I(0), I(1))
	}
	return nil
}

// lsm sets the AppArmor profile and SELinux label for the next execve,
// through a private procfs (CVE-2025-52881: the container's /proc may have
// anything mounted over attr/).
func (p *Plan) lsm(in ProcessInput) {
	if in.ApparmorExec == "" && in.SelinuxExec == "" {
		return
	}
	p.add(OpProcfs, "private procfs", I(in.ProcfsFD))
	if in.ApparmorExec != "" {
		profile := strings.TrimPrefix(in.ApparmorExec, "exec ")
		// Kernels before 5.8 have only the shared attr/exec; ENOENT means
		// no profile by that name is loaded.
		p.add(OpLSMAttr, "process.apparmorProfile", S("apparmor/exec"), S("exec"), S(in.ApparmorExec),
			S(fmt.Sprintf("process.apparmorProfile %q: AppArmor has no profile loaded by that name (see /sys/kernel/security/apparmor/profiles)", profile)))
	}
	if in.SelinuxExec != "" {
		p.add(OpLSMAttr, "process.selinuxLabel", S("exec"), S(""), S(in.SelinuxExec), S(""))
	}
}

func (p *Plan) identity(u specs.User, setgroups bool) error {
	umask := uint32(0o022) // what runc gives a process whose spec sets none
	if u.Umask != nil {
		umask = *u.Umask
	}
	if umask > 0o777 {
		return fmt.Errorf("process.user.umask %#o: not a permission mask (expected at most 0777)", umask)
	}
	sg := 0
	if setgroups {
		// Called even with no gids, to drop the groups the init inherited.
		sg = 1
	}
	args := []Arg{I(umask), I(sg), I(u.GID), I(u.UID)}
	for _, g := range u.AdditionalGids {
		args = append(args, I(g))
	}
	p.add(OpIdentity, "process.user", args...)
	return nil
}

// When the filter is loaded: as late as possible, by the process that
// will execve the program, so that nothing the runtime does runs under it.
//   - without no_new_privs, before the user change and the capability
//     drop: loading needs CAP_SYS_ADMIN then, as in runc;
//   - with SCMP_ACT_NOTIFY, before ready, so that the listener fd reaches
//     the parent, which passes it on to linux.seccomp.listenerPath;
//   - with startContainer hooks, before them: runc runs them under it;
//   - otherwise right before execve.
type seccompMoment int

const (
	loadNever seccompMoment = iota
	loadBeforeCredentials
	loadBeforeReady
	loadBeforeHooks
	loadLast
)

func (p *Plan) seccompMoment(in ProcessInput) seccompMoment {
	switch f := in.Seccomp; {
	case f == nil:
		return loadNever
	case !in.Spec.Process.NoNewPrivileges:
		return loadBeforeCredentials
	case f.Notify:
		return loadBeforeReady
	case !in.Exec && startHooks(in.Spec) != nil:
		return loadBeforeHooks
	}
	return loadLast
}

func (p *Plan) seccomp(f *Filter) {
	notify := 0
	if f.Notify {
		notify = 1
	}
	p.add(OpSeccomp, "linux.seccomp: load the filter", B(f.BPF), I(f.Flags), I(notify))
}

func startHooks(s *specs.Spec) []specs.Hook {
	if s.Hooks == nil {
		return nil
	}
	return s.Hooks.StartContainer
}

// awaitStart is the created state: opening the exec fifo for writing
// blocks until `start` opens it for reading; the byte written tells
// `start` to go on, after the startContainer hooks. The fifo's write end
// stays open until execve closes it: `start` reads that as "the program
// runs" and only then runs the poststart hooks.
func (p *Plan) awaitStart(in ProcessInput, seccompAt seccompMoment) error {
	p.add(OpProcfs, "private procfs", I(in.ProcfsFD))
	p.add(OpOpenFifo, "open the exec fifo", I(in.FifoFD))
	hooks := startHooks(in.Spec)
	if seccompAt == loadBeforeHooks {
		p.seccomp(in.Seccomp)
	}
	if err := p.hooks("startContainer", hooks, in.StartState); err != nil {
		return err
	}
	p.add(OpWriteFifo, "write the exec fifo")
	return nil
}

// hooks runs each hook of a kind that runs in the container's namespaces
// (createContainer, startContainer), state JSON on its stdin.
func (p *Plan) hooks(kind string, hooks []specs.Hook, state []byte) error {
	for i, h := range hooks {
		timeout := 0
		if h.Timeout != nil {
			if *h.Timeout <= 0 {
				return fmt.Errorf("hooks.%s[%d] %q: timeout %d: must be positive", kind, i, h.Path, *h.Timeout)
			}
			timeout = *h.Timeout
		}
		args := h.Args
		if len(args) == 0 {
			args = []string{h.Path}
		}
		hargs := append([]Arg{I(timeout), B(state), S(h.Path)}, execArgs(args, h.Env)...)
		p.add(OpHook, fmt.Sprintf("hooks.%s[%d] %q", kind, i, h.Path), hargs...)
	}
	return nil
}

// execArgs is argc, the arguments, then the environment.
func execArgs(args, env []string) []Arg {
	out := []Arg{I(len(args))}
	for _, a := range args {
		out = append(out, S(a))
	}
	for _, e := range env {
		out = append(out, S(e))
	}
	return out
}

// pathOf is the PATH the program is looked up along: the process's own.
func pathOf(env []string) string {
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	return path
}

// capNames is the spec names of capabilities 0..last, comma-separated: the
// executor names a capability in its messages by its number's entry.
func capNames(last capability.Cap) string {
	names := make([]string, 0, last+1)
	for n := capability.Cap(0); n <= last; n++ {
		names = append(names, capabilities.Name(n))
	}
	return strings.Join(names, ",")
}

func maskNames(mask uint64, names string) string {
	all := strings.Split(names, ",")
	var out []string
	for n := 0; n < 64; n++ {
		if mask&(1<<uint(n)) != 0 && n < len(all) {
			out = append(out, all[n])
		}
	}
	return strings.Join(out, ", ")
}

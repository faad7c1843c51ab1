package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
	"github.com/strata-runtime/strata/libcontainer/hooks"
	"github.com/strata-runtime/strata/libcontainer/seccomp"
)

// CreateOpts are the inputs of Create. Spec must already be validated.
type CreateOpts struct {
	ID           string
	Bundle       string // absolute
	Spec         *specs.Spec
	NoPivot      bool
	NoNewKeyring bool
	PreserveFDs  int
	// Console is a connected console socket: the init sends the pty
	// master over it when process.terminal is set.
	Console *os.File
	// Timing, when set, receives the duration of each setup phase.
	Timing func(phase string, d time.Duration)
	// Warn, when set, receives what the user should know of but does not
	// stop the create (a cgroup shared with other processes, capabilities
	// that cannot be granted).
	Warn func(msg string)
	// Note, when set, receives what the init skipped but did not fail on
	// (ambient capabilities it could not raise).
	Note func(msg string)
	// Seccomp is linux.seccomp compiled (CompileSeccomp), nil without.
	Seccomp *seccomp.Program
	// SystemdCgroup: the cgroup is a transient systemd scope
	// (--systemd-cgroup), linux.cgroupsPath its "slice:prefix:name".
	SystemdCgroup bool
	// Rootless: strata runs as an unprivileged user (--rootless). The
	// container then has no cgroup, an unprivileged user may not make one
	// (the caller warns about linux.resources), unless SystemdCgroup asks
	// the user's systemd manager for a scope.
	Rootless bool
}

// initConfig is what the Go half of the container's init receives in the
// 'C' message.
type initConfig struct {
	ID           string      `json:"id"`
	Bundle       string      `json:"bundle"`
	Rootfs       string      `json:"rootfs"`
	Spec         *specs.Spec `json:"spec"`
	NoPivot      bool        `json:"no_pivot"`
	NoNewKeyring bool        `json:"no_new_keyring"`
	PreserveFDs  int         `json:"preserve_fds"`
	// The init's fds for the exec fifo (-1 for exec), the sealed strata
	// binary and the console socket (-1 without a terminal).
	FifoFD    int `json:"fifo_fd"`
	ExeFD     int `json:"exe_fd"`
	ConsoleFD int `json:"console_fd"`
	// NewCgroupNS: unshare a cgroup namespace once the parent has moved
	// the init into its cgroups ('G').
	NewCgroupNS bool `json:"new_cgroupns"`
	// RuntimeHooks: the init must stop after its mounts and let the parent
	// run the prestart/createRuntime hooks ('H') before its own
	// createContainer hooks.
	RuntimeHooks bool `json:"runtime_hooks"`
	// State is the container's state (status creating, host pid) for
	// the hooks the init runs.
	State *specs.State `json:"state"`
	// Seccomp is the compiled linux.seccomp filter; the parent compiles,
	// the init only loads (seccomp_linux.go).
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
	// LSM is the AppArmor profile and SELinux label to set, decided here
	// in the runtime's view of the host (planLSM).
	LSM lsmPlan `json:"lsm"`
	// Timings: the exec stage reports its steps' timings (--debug).
	Timings bool `json:"timings,omitempty"`
}

// readyReport is the 'T' and 'R' payload: the Go init reports what it
// timed and found before the exec stage, the plan executor what it timed
// and noted.
type readyReport struct {
	Timings  []phaseTiming `json:"timings"`
	Warnings []string      `json:"warnings,omitempty"`
	Notes    []string      `json:"notes,omitempty"`
}

type phaseTiming struct {
	Phase string        `json:"phase"`
	D     time.Duration `json:"d"`
}

// InitProcess is a started container init, as seen by the process that made it.
type InitProcess struct {
	Pid      int
	proc     *child
	sync     *syncSocket
	placing  chan error // placeAsync's result, until placed() takes it
	placeErr error
}

// Create makes the container: state directory, init process, namespaces,
// rootfs and process setup, up to the point where the init waits for
// start. On failure nothing is left behind.
func Create(root string, o CreateOpts) (*Container, *InitProcess, error) {
	c, err := newContainer(root, o.ID)
	if err != nil {
		return nil, nil, err
	}
	p, err := c.create(&o)
	if err != nil {
		// startInit has already killed the init if it got that far.
		c.removeState()
		return nil, nil, err
	}
	return c, p, nil
}

func (c *Container) create(o *CreateOpts) (*InitProcess, error) {
	rootfs := o.Spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(o.Bundle, rootfs)
	}
	c.State = State{
		OCIVersion:    o.Spec.Version,
		ID:            o.ID,
		Bundle:        o.Bundle,
		Rootfs:        rootfs,
		Created:       time.Now().UTC(),
		Annotations:   o.Spec.Annotations,
		Config:        o.Spec,
		SystemdCgroup: o.SystemdCgroup,
		SystemdUser:   o.Rootless && o.SystemdCgroup,
	}
	// Writable by all: the init may have become the container's user by
	// the time it opens the fifo. Only the 0700 state dir guards the path.
	if err := unix.Mkfifo(c.fifoPath(), 0o622); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	if err := os.Chmod(c.fifoPath(), 0o622); err != nil { // past the umask
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Converted and checked against the host before anything is made;
	// removed on failure, once startInit has killed the init. None for a
	// rootless container, but for a scope of the user's systemd manager.
	var cg *cgroups.Manager
	if d := c.State.cgroupDriver(); !o.Rootless || d == cgroups.SystemdUser {
		var err error
		if cg, err = cgroups.New(o.ID, o.Spec, d); err != nil {
			return nil, err
		}
		// Saved before the first cgroup directory is made: a create
		// killed from here on leaves a state that `delete --force` can
		// clean up after (the cgroups to remove; the init dies by its
		// death signal).
		c.State.CgroupPaths = cg.Paths()
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	p, err := c.startInit(o, cg)
	if err != nil && cg != nil {
		if derr := cg.Destroy(); derr != nil {
			err = fmt.Errorf("%w (and %v)", err, derr)
		}
	}
	return p, err
}

func (c *Container) startInit(o *CreateOpts, cg *cgroups.Manager) (p *InitProcess, err error) {
	t0 := time.Now()
	lsm, err := planLSM(o.Spec)
	if err != nil {
		return nil, err
	}
	fifo, err := os.OpenFile(c.fifoPath(), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()
	payload, newUserNS := bootstrapMessage(o.Spec)
	l := &launch{bootstrap: payload, preserveFDs: o.PreserveFDs, fifo: fifo, console: o.Console, timing: o.Timing}
	if newUserNS {
		l.idMaps = o.Spec
	}
	// The plan executor builds the rootfs where the plan can say how; else
	// the Go half of the init does.
	tp := time.Now()
	rootfsSteps, goInitWhy := c.compileRootfs(o, cg)
	if rootfsSteps != nil {
		l.bootstrap = append(l.bootstrap, "plan\x00"...)
		o.timing("compile the rootfs plan", time.Since(tp))
	} else {
		o.note(fmt.Sprintf("the Go init builds the rootfs: the plan cannot express %s", goInitWhy))
	}
	// The cgroup is made now, and the init enters it as it starts
	// (cgroups.Entry): born in its cgroup2 directory, and moving itself
	// into the v1 hierarchies.
	tcg := time.Now()
	if cg != nil {
		if n := cg.Occupants(); n > 0 {
			o.warn(fmt.Sprintf("linux.cgroupsPath: cgroup %s already holds %d process(es) of someone else: the container shares its limits with them", o.Spec.Linux.CgroupsPath, n))
		}
		l.joinVia = cg.JoinMethod()
		if l.entry, err = cg.CreateForEntry(); err != nil {
			return nil, err
		}
	}
	prep := time.Since(tcg)
	defer l.entry.Close()
	p, err = l.start()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.kill()
		}
	}()
	start, _, err := procStartTime(p.Pid)
	if err != nil {
		return p, p.failed(fmt.Errorf("container init pid %d: %w", p.Pid, err))
	}
	// Saved with the created state; should this create be killed before,
	// the init dies with it (its parent death signal).
	c.State.InitPid, c.State.InitStart = p.Pid, start
	// linux.netDevices, now that the init's network namespace exists and
	// before it starts on its config; back to the host if create fails.
	nd, err := moveNetDevices(o.Spec, p.Pid)
	if err != nil {
		return p, err
	}
	defer nd.done(&err)
	if err := setOOMScoreAdj(o.Spec, p.Pid); err != nil {
		return p, err
	}
	if rootfsSteps != nil {
		if err := c.sendInitPlan(o, l, p, rootfsSteps, lsm); err != nil {
			return p, err
		}
	} else if err := c.sendInitConfig(o, l, p, lsm); err != nil {
		return p, err
	}
	// Into the container's cgroups while the init starts on its mounts; it
	// waits for that before anything the cgroups must count or see. In
	// them already (cgroups.Entry), it is told so at once.
	if cg != nil {
		p.placeAsync(l.joinCgroup(prep, cg.Apply))
	} else {
		p.placeAsync(func(int) error { return nil }) // no cgroup: placed as it is
	}
	o.timing("start init", time.Since(t0))
	if err := c.awaitReady(p, o); err != nil {
		return p, err
	}
	// The limits are written once the init has set the container up (its
	// mknods pass the device rules, its own memory is not the user's) and
	// before the user's program runs (the init waits on the exec fifo),
	// and before the state says created: a created container has them.
	if cg != nil {
		t2 := time.Now()
		if err := cg.Set(cg.Resources()); err != nil {
			return p, err
		}
		o.timing("cgroup limits", time.Since(t2))
	}
	c.State.Ready = true
	if err := c.save(); err != nil {
		return p, err
	}
	// Only a container on record may outlive this process.
	return p, p.release()
}

// sendInitConfig sends the Go half of the init what it builds the rootfs
// and compiles the process plan from: the parent's mount trees ('F') and
// the config ('C').
func (c *Container) sendInitConfig(o *CreateOpts, l *launch, p *InitProcess, lsm lsmPlan) error {
	if err := sendMountTrees(p, o.Spec, o.Bundle, parentTrees(o.Spec)); err != nil {
		return err
	}
	cfg := initConfig{
		ID: c.State.ID, Bundle: c.State.Bundle, Rootfs: c.State.Rootfs, Spec: o.Spec,
		NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, PreserveFDs: o.PreserveFDs,
		RuntimeHooks: needsRuntimeHooks(o.Spec), State: c.OCIState(), Seccomp: o.Seccomp,
		NewCgroupNS: hasOwnNamespace(o.Spec, specs.CgroupNamespace), LSM: lsm,
		Timings: o.Timing != nil,
	}
	l.setFDs(&cfg)
	cfg.State.Status = specs.StateCreating
	if err := p.sync.sendJSON(msgConfig, &cfg); err != nil {
		return p.failed(fmt.Errorf("send config to the init: %w", err))
	}
	return nil
}

// release lets the init outlive this process: it drops its parent death
// signal and says so. Until then, a strata killed at any point takes the
// half-made init with it, so no init lives on that the state does not name.
func (p *InitProcess) release() error {
	if err := p.sync.send(msgRelease, nil); err != nil {
		return p.failed(err)
	}
	if _, err := p.sync.expect(msgReleased); err != nil {
		return p.failed(err)
	}
	return nil
}

// launch is one start of `strata init`, for a container's init or for a
// process exec'd into it: the same binary, protocol and setup code.
type launch struct {
	bootstrap   []byte      // nsenter's bootstrap payload
	idMaps      *specs.Spec // set when a new user namespace needs its maps written
	preserveFDs int
	fifo        *os.File // the exec fifo (create only)
	console     *os.File // connected console socket (terminal: true only)
	syncFD      int      // the child's fd numbers, known once started
	exeFD       int
	fifoFD      int
	consoleFD   int
	tasksFD     int // the first of entry's tasks files
	// timing, when set, receives the duration of start's own phases.
	timing func(phase string, d time.Duration)
	// entry, when set, is how the process enters its cgroups as it
	// starts (cgroups.Entry); placed says how that went.
	entry  *cgroups.Entry
	placed placement
	// joinVia is how joinCgroup's join does it, for --debug ("" is a
	// cgroup.procs write).
	joinVia string
}

// joinCgroup is what placeAsync runs: nothing when the process entered
// its cgroups as it started (prep, the cgroups' creation and opening, is
// its cost), else join, the cgroup.procs write. The message to the process
// ('G' or 'X') follows either way: the protocol is the same.
func (l *launch) joinCgroup(prep time.Duration, join func(pid int) error) func(pid int) error {
	return func(pid int) error {
		if l.placed.born {
			l.report("join cgroup: "+l.placed.how(), prep)
			return nil
		}
		t0 := time.Now()
		err := join(pid)
		phase := "join cgroup: write cgroup.procs"
		if l.joinVia != "" {
			phase = "join cgroup: " + l.joinVia
		}
		if l.placed.why != "" {
			phase += " (" + l.placed.why + ")"
		}
		l.report(phase, prep+time.Since(t0))
		return err
	}
}

func (l *launch) report(phase string, d time.Duration) {
	if l.timing != nil {
		l.timing(phase, d)
	}
}

// start runs `strata init` from the sealed binary and speaks the nsenter
// half of the protocol: it returns once the process is in its namespaces.
func (l *launch) start() (p *InitProcess, err error) {
	parent, child, err := newSyncPair()
	if err != nil {
		return nil, err
	}
	defer child.close()
	t0 := time.Now()
	exe, how, err := sealedExe()
	if err != nil {
		parent.close()
		return nil, err
	}
	// Closed in the background once the child has its copy: the last
	// close of a detached overlay or bind mount unmounts it, which waits
	// for an RCU grace period (half of a seal's cost, exeseal_linux.go),
	// and nothing here needs to wait for that.
	defer func() { go exe.Close() }()
	l.report("seal binary via "+how, time.Since(t0))
	// The child's fds: 0-2 stdio, the preserved fds in place, then the
	// sync socket, the binary it runs from, and the optional ones.
	var extra []*os.File
	for i := 0; i < l.preserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	l.layoutFDs()
	childSync := child.file()
	defer childSync.Close()
	extra = append(extra, childSync, exe)
	if l.fifo != nil {
		extra = append(extra, l.fifo)
	}
	if l.console != nil {
		extra = append(extra, l.console)
	}
	if l.entry != nil {
		for i, f := range l.entry.Tasks {
			extra = append(extra, f)
			l.bootstrap = fmt.Appendf(l.bootstrap, "cgroup=%d:%s\x00", l.tasksFD+i, f.Name())
		}
	}
	spec := &spawnSpec{
		path: fmt.Sprintf("/proc/self/fd/%d", l.exeFD),
		args: []string{"strata", "init"},
		env: []string{"_STRATA_INITPIPE=" + strconv.Itoa(l.syncFD),
			// The Go init lives a few milliseconds and allocates
			// little: a collector and a P per CPU (their threads
			// made at start) cost it more than they save: about
			// 2 ms of CPU less per `run` on a 2-core host.
			"GOGC=off", "GOMAXPROCS=1"},
		files: append([]*os.File{os.Stdin, os.Stdout, os.Stderr}, extra...),
		sys:   &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL},
	}
	// Born in the container's cgroup where the host allows it
	// (cgroupclone_linux.go); l.placed says whether it was.
	proc, placed, err := startInCgroup(spec, l.entry)
	l.placed = placed
	if err != nil {
		parent.close()
		return nil, fmt.Errorf("start strata init: %w", err)
	}
	p = &InitProcess{proc: proc, sync: parent}
	if err := l.enterNamespaces(p); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// layoutFDs decides the child's fd numbers (start puts the files there):
// the preserved fds, the sync socket, the binary, then the optional ones,
// the cgroup tasks files last.
func (l *launch) layoutFDs() {
	l.syncFD, l.exeFD, l.fifoFD, l.consoleFD = 3+l.preserveFDs, 4+l.preserveFDs, -1, -1
	next := 5 + l.preserveFDs
	if l.fifo != nil {
		l.fifoFD, next = next, next+1
	}
	if l.console != nil {
		l.consoleFD, next = next, next+1
	}
	l.tasksFD = next
}

// setFDs tells the Go init where start put its files.
func (l *launch) setFDs(cfg *initConfig) {
	cfg.ExeFD, cfg.FifoFD, cfg.ConsoleFD = l.exeFD, l.fifoFD, l.consoleFD
}

// enterNamespaces drives nsenter.c: bootstrap, user namespace maps, pid.
func (l *launch) enterNamespaces(p *InitProcess) error {
	if err := p.sync.send(msgBootstrap, l.bootstrap); err != nil {
		return fmt.Errorf("send bootstrap to the init: %w", err)
	}
	if l.idMaps != nil {
		if _, err := p.sync.expect(msgUsernsReady); err != nil {
			return p.failed(err)
		}
		if err := writeIDMaps(p.proc.Pid, l.idMaps); err != nil {
			return err
		}
		if err := p.sync.send(msgUsernsMapped, nil); err != nil {
			return p.failed(err)
		}
	}
	pidb, err := p.sync.expect(msgPid)
	if err != nil {
		return p.failed(err)
	}
	if p.Pid, err = strconv.Atoi(string(pidb)); err != nil {
		return fmt.Errorf("init sent a bad pid %q", pidb)
	}
	if p.Pid != p.proc.Pid {
		// nsenter forked the init and its first process has exited.
		if err := p.proc.wait(); err != nil {
			return p.failed(fmt.Errorf("nsenter: %w", err))
		}
	}
	return nil
}

func needsRuntimeHooks(s *specs.Spec) bool {
	h := s.Hooks
	return h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 || len(h.CreateContainer) > 0)
}

// awaitReady serves the init until it is ready: its hook request and its
// seccomp listener fd.
func (c *Container) awaitReady(p *InitProcess, o *CreateOpts) error {
	t0 := time.Now()
	r, err := c.serveInit(p, func() error {
		o.timing("mounts", time.Since(t0))
		t1 := time.Now()
		defer func() { o.timing("prestart and createRuntime hooks", time.Since(t1)) }()
		return c.runRuntimeHooks()
	})
	if err != nil {
		return err
	}
	for _, pt := range r.Timings {
		o.timing(pt.Phase, pt.D)
	}
	for _, w := range r.Warnings {
		o.warn(w)
	}
	for _, n := range r.Notes {
		o.note(n)
	}
	return nil
}

// serveInit answers a starting init (or exec'd process) until its 'R':
// runtimeHooks runs on its 'H' (create only; nil for exec), a seccomp
// listener fd goes to the agent at listenerPath. It returns the reports
// ('T', then 'R') once the move into the cgroups, which the process waited
// for, has also reported.
func (c *Container) serveInit(p *InitProcess, runtimeHooks func() error) (*readyReport, error) {
	var all readyReport
	for {
		t, payload, fd, err := p.sync.recvMsg()
		if err != nil {
			// A failed move into the cgroups is the real reason the
			// process gave up.
			if perr := p.placed(); perr != nil {
				return nil, perr
			}
			return nil, p.failed(err)
		}
		switch t {
		case msgSeccompFd:
			if fd < 0 {
				return nil, fmt.Errorf("sync: %q without an fd", t)
			}
			if err := c.serveSeccompFd(p.Pid, fd, runtimeHooks != nil); err != nil {
				return nil, err
			}
		case msgRunHooks:
			if runtimeHooks == nil {
				return nil, fmt.Errorf("sync: unexpected message %q", t)
			}
			if err := runtimeHooks(); err != nil {
				return nil, err
			}
			if err := p.sync.send(msgHooksDone, nil); err != nil {
				return nil, p.failed(err)
			}
		case msgReport, msgReady:
			var r readyReport
			if err := json.Unmarshal(payload, &r); err != nil {
				return nil, fmt.Errorf("bad %q report: %w", t, err)
			}
			all.Timings = append(all.Timings, r.Timings...)
			all.Warnings = append(all.Warnings, r.Warnings...)
			all.Notes = append(all.Notes, r.Notes...)
			if t == msgReady {
				return &all, p.placed()
			}
		default:
			closeIfValid(fd)
			return nil, fmt.Errorf("sync: unexpected message %q", t)
		}
	}
}

// runRuntimeHooks runs prestart (deprecated but still run, as runc does)
// and createRuntime hooks in the runtime's namespaces.
func (c *Container) runRuntimeHooks() error {
	h := c.State.Config.Hooks
	if h == nil {
		return nil
	}
	st := c.OCIState()
	// prestart comes from the days when hooks ran at start; the
	// validation suite and crun still give it "created".
	st.Status = specs.StateCreated
	if err := hooks.Run("prestart", h.Prestart, st); err != nil {
		return err
	}
	st.Status = specs.StateCreating
	return hooks.Run("createRuntime", h.CreateRuntime, st)
}

func (o *CreateOpts) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
}

func (o *CreateOpts) note(msg string) {
	if o.Note != nil {
		o.Note(msg)
	}
}

func (o *CreateOpts) timing(phase string, d time.Duration) {
	if o.Timing != nil {
		o.Timing(phase, d)
	}
}

// failed turns a broken protocol into the init's own error when it sent
// one, and otherwise into its exit status.
func (p *InitProcess) failed(err error) error {
	if !errors.Is(err, errInitGone) {
		return err
	}
	if p.Pid == 0 || p.Pid == p.proc.Pid {
		if werr := p.proc.wait(); werr != nil {
			return fmt.Errorf("container init: %w", werr)
		}
	}
	return err
}

// placeAsync runs place (putting the process in its cgroups) in the
// background and tells the process with 'G', or 'X' on failure. Call it
// after the config is sent: the process reads 'C' first.
func (p *InitProcess) placeAsync(place func(pid int) error) {
	done := make(chan error, 1)
	p.placing = done
	go func() {
		err := place(p.Pid)
		// Only a failed move is reported: a failed send means the process
		// is gone, and the reason it gave (its 'E', read by serveInit) is
		// the one to show, not "broken pipe".
		if err != nil {
			p.sync.send(msgPlaceFailed, []byte(err.Error()))
		} else {
			p.sync.send(msgPlaced, nil)
		}
		done <- err
	}()
}

// placed waits for placeAsync and returns its result (nil without one).
func (p *InitProcess) placed() error {
	if p.placing != nil {
		p.placeErr = <-p.placing
		p.placing = nil
	}
	return p.placeErr
}

// kill ends a half-made init and reaps what is ours to reap.
func (p *InitProcess) kill() {
	p.placed() // its goroutine must not write to a closed socket
	if p.Pid > 0 {
		unix.Kill(p.Pid, unix.SIGKILL)
	}
	p.proc.kill()
	if p.Pid > 0 && p.Pid != p.proc.Pid {
		var ws unix.WaitStatus
		unix.Wait4(p.Pid, &ws, 0, nil)
	}
	p.sync.close()
}

// Detach lets the init live on without this process: `create` and
// `run -d` return while the container keeps running.
func (p *InitProcess) Detach() {
	p.sync.close()
}

// ExecResult reports whether the init managed to execute the user's
// program: the sync socket closes on execve (O_CLOEXEC), or carries the
// reason it failed.
func (p *InitProcess) ExecResult() error {
	_, _, err := p.sync.recv()
	if errors.Is(err, errInitGone) {
		return nil
	}
	return err
}

// Wait waits for the container's init to exit and returns its exit code,
// 128+N when a signal N killed it, as a shell reports it.
func (p *InitProcess) Wait() (int, error) {
	code, err := waitExit(p.Pid)
	p.sync.close()
	return code, err
}

// waitExit waits for the child pid, a container's init, and returns its
// exit code as Wait does.
func waitExit(pid int) (int, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("wait for the container init %d: %w", pid, err)
		}
		break
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

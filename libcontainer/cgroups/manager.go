package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	cg "github.com/opencontainers/cgroups"
	// Registers the device setters: v1 devices.allow/deny, v2 eBPF filter.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/cgroups/manager"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager is a container's cgroup: one directory per v1 hierarchy (and the
// unified one on a hybrid host), or one v2 directory; with systemd, the v2
// directory of a transient scope systemd made (the library's systemd
// driver, which runc uses too: systemd.go says what strata adds to it).
type Manager struct {
	m       cg.Manager
	cfg     *cg.Cgroup
	v2      bool
	applied bool // this Manager made the directories and put the init in
	// userManager is, for SystemdUser, the user manager's cgroup v2
	// directory: its cgroup.controllers lists what systemd delegates to
	// it, all its scopes can have (the root's lists the host's).
	userManager string
	// KillLeftovers makes Destroy SIGKILL what is still in the cgroup.
	// Set it for a container without a pid namespace of its own, whose
	// init's death did not end its other processes; with one, the kernel
	// ended them all, and what is left joined from outside (as runc, it
	// is left alone and the removal fails, naming the cgroup).
	KillLeftovers bool
}

// New converts the spec and checks that this host's cgroups can honour every
// field asked for. It creates nothing: a refusal leaves no directory.
// With systemd, it checks that systemd can be asked for a scope, but does
// not ask yet: Apply does. (The user's manager is asked where its cgroup
// is, to find the scope's path and the controllers delegated to it.)
func New(id string, s *specs.Spec, d Driver) (*Manager, error) {
	cfg, err := Config(id, s, d)
	if err != nil {
		return nil, err
	}
	switch d {
	case Systemd:
		err = SystemdHost()
	case SystemdUser:
		err = SystemdUserHost()
	}
	if err != nil {
		return nil, err
	}
	v2 := cg.IsCgroup2UnifiedMode()
	if !v2 && cfg.Resources.Unified != nil {
		return nil, errors.New("linux.resources.unified: needs cgroup v2, and this host's controllers are on cgroup v1")
	}
	m, err := manager.NewWithPaths(cfg, v1Paths(cfg))
	if err != nil {
		if d == SystemdUser {
			return nil, userManagerError(err)
		}
		return nil, fmt.Errorf("linux.cgroupsPath %q: %w", cfg.Path, err)
	}
	mgr := &Manager{m: m, cfg: cfg, v2: v2}
	if d == SystemdUser {
		mgr.userManager = userManagerDir(m.Path(""), cfg)
	}
	if err := mgr.checkControllers(cfg.Resources); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Load is the Manager of an existing container, from the paths its create
// recorded and the driver it used.
func Load(id string, s *specs.Spec, paths map[string]string, d Driver) (*Manager, error) {
	cfg, err := Config(id, s, d)
	if err != nil {
		return nil, err
	}
	v2 := cg.IsCgroup2UnifiedMode()
	if !v2 {
		cfg.Resources.Unified = nil
	}
	m, err := manager.NewWithPaths(cfg, maps.Clone(paths))
	if err != nil {
		return nil, err
	}
	mgr := &Manager{m: m, cfg: cfg, v2: v2, applied: true}
	if d == SystemdUser {
		mgr.userManager = userManagerDir(m.Path(""), cfg)
	}
	return mgr, nil
}

// Resources is what the Manager applies.
func (m *Manager) Resources() *cg.Resources { return m.cfg.Resources }

// Paths are the cgroup directories, by controller ("" is the v2 one).
func (m *Manager) Paths() map[string]string { return maps.Clone(m.m.GetPaths()) }

// Apply makes the cgroup and puts pid in it. As runc, it refuses a frozen
// cgroup: that is someone else's.
func (m *Manager) Apply(pid int) error {
	if err := m.refuseFrozen(); err != nil {
		return err
	}
	m.applied = true
	if err := m.m.Apply(pid); err != nil {
		if m.cfg.Systemd {
			return scopeError(m.cfg, err)
		}
		return fmt.Errorf("join cgroup %s: %w", m.path(), err)
	}
	return m.checkFiles(m.cfg.Resources)
}

// JoinMethod says how Apply puts the init in its cgroup, for --debug.
func (m *Manager) JoinMethod() string {
	if m.cfg.Systemd {
		return "systemd StartTransientUnit"
	}
	return "write cgroup.procs"
}

// CreateForEntry makes the cgroup, with Apply's refusals, and opens it for
// the init to enter by itself (Entry), so that the parent writes no
// cgroup.procs. The managers' Apply(-1) makes the directories and writes no
// pid (cgroups.WriteCgroupProc skips -1). Should clone3 be refused, Apply(pid)
// after it is still right: the directories exist and only the pid is written.
//
// With systemd it returns nil, nil: systemd makes a scope only with a
// process to put in it (StartTransientUnit wants PIDs), so there is no
// cgroup to enter before the init exists; Apply has systemd move it.
func (m *Manager) CreateForEntry() (*Entry, error) {
	if m.cfg.Systemd {
		return nil, nil
	}
	if err := m.refuseFrozen(); err != nil {
		return nil, err
	}
	m.applied = true
	if err := m.m.Apply(-1); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", m.path(), err)
	}
	if err := m.checkFiles(m.cfg.Resources); err != nil {
		return nil, err
	}
	return OpenEntry(m.m.GetPaths())
}

// refuseFrozen refuses a frozen cgroup.
func (m *Manager) refuseFrozen() error {
	if st, _ := m.m.GetFreezerState(); st == cg.Frozen {
		return fmt.Errorf("cgroup %s is frozen: it is someone else's", m.path())
	}
	return nil
}

// Occupants counts the processes already in the cgroup's directories,
// before the container joins them: someone else's. runc 1.1 runs the
// container beside them with a warning; so does strata (the caller warns).
func (m *Manager) Occupants() int {
	seen := map[int]bool{}
	for _, dir := range m.m.GetPaths() {
		// A directory not made yet holds no one. Asked first, as a
		// failed read costs the library an open and a readlink for its
		// message, in each hierarchy of every create.
		if unix.Access(dir, unix.F_OK) != nil {
			continue
		}
		pids, err := cg.GetPids(dir)
		if err != nil {
			continue // removed meanwhile
		}
		for _, p := range pids {
			seen[p] = true
		}
	}
	return len(seen)
}

// Set writes the limits, after checking that the cgroup has a file for each.
func (m *Manager) Set(r *cg.Resources) error {
	if err := m.checkControllers(r); err != nil {
		return err
	}
	if err := m.checkFiles(r); err != nil {
		return err
	}
	if err := m.m.Set(r); err != nil {
		return fmt.Errorf("linux.resources: %w", err)
	}
	if m.cfg.Systemd && r.BlkioWeight != 0 {
		if err := setIOWeight(m.cfg, r.BlkioWeight); err != nil {
			return err
		}
	}
	m.cfg.Resources = r
	return nil
}

// path names the cgroup in messages.
func (m *Manager) path() string {
	if m.cfg.Systemd {
		return "of systemd scope " + scopeName(m.cfg)
	}
	if p := m.cfg.Path; p != "" {
		return p
	}
	return m.cfg.Name
}

// Pids lists every process in the cgroup, its sub-cgroups included.
func (m *Manager) Pids() ([]int, error) {
	pids, err := m.m.GetAllPids()
	if err != nil && (errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV)) {
		return nil, nil
	}
	return pids, err
}

// Freeze and Thaw drive the freezer (v1 freezer.state, v2 cgroup.freeze).
func (m *Manager) Freeze() error {
	if err := m.m.Freeze(cg.Frozen); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", m.path(), err)
	}
	return nil
}

func (m *Manager) Thaw() error {
	if err := m.m.Freeze(cg.Thawed); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", m.path(), err)
	}
	return nil
}

// Frozen says whether the cgroup is frozen (or being frozen).
func (m *Manager) Frozen() bool { return Frozen(m.m.GetPaths()) }

// Frozen reads the freezer state from recorded paths without a Manager: a
// few bytes from one file, cheap enough for every `state` and `list`.
func Frozen(paths map[string]string) bool {
	if p, ok := paths["freezer"]; ok {
		b, err := os.ReadFile(filepath.Join(p, "freezer.state"))
		st := strings.TrimSpace(string(b))
		return err == nil && (st == "FROZEN" || st == "FREEZING")
	}
	if p, ok := paths[""]; ok && len(paths) == 1 {
		b, err := os.ReadFile(filepath.Join(p, "cgroup.freeze"))
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	return false
}

// SignalAll sends sig to every process in the cgroup. The cgroup is frozen
// while the list is taken and the signals sent, so no process forks past
// it; it is thawed after (always after SIGKILL, or the dead could not die).
func (m *Manager) SignalAll(sig unix.Signal) error {
	wasFrozen := m.Frozen()
	if !wasFrozen {
		// Best effort: without a freezer the list is still complete
		// for all but a process forking at this very moment.
		_ = m.m.Freeze(cg.Frozen)
	}
	pids, err := m.Pids()
	for _, pid := range pids {
		unix.Kill(pid, sig)
	}
	if !wasFrozen || sig == unix.SIGKILL {
		if terr := m.m.Freeze(cg.Thawed); terr != nil && err == nil {
			err = terr
		}
	}
	if err != nil {
		return fmt.Errorf("signal the processes of cgroup %s: %w", m.path(), err)
	}
	return nil
}

// Destroy removes the cgroup directories (killing what is left in them
// with KillLeftovers), and retries while the kernel reports a directory
// busy: a process leaves its cgroup a moment after it is reaped. A Manager that did not apply (its
// create failed before) removes nothing: the directory may be another's.
func (m *Manager) Destroy() error {
	if !m.applied {
		return nil
	}
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		if pids, _ := m.Pids(); len(pids) > 0 && m.KillLeftovers {
			m.SignalAll(unix.SIGKILL)
		}
		err := m.m.Destroy()
		if err == nil {
			return nil
		}
		if n := m.Occupants(); n > 0 && !m.KillLeftovers && time.Since(start) > 500*time.Millisecond {
			// Not the container's (its pid namespace died with its
			// init): waiting would not make them leave.
			return fmt.Errorf("remove cgroup %s: it still holds %d process(es) that joined it from outside the container; they and the cgroup are left alone", m.path(), n)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", m.path(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// OOMKillCount is the number of processes the OOM killer killed in the
// cgroup (memory.oom_control's oom_kill on v1, memory.events on v2).
func (m *Manager) OOMKillCount() (uint64, error) { return m.m.OOMKillCount() }

// v2Root is the cgroup v2 mount whose controllers containers can use (a
// variable for the tests, which use a hybrid host's unified hierarchy).
var v2Root = "/sys/fs/cgroup"

// need is a resource field asked for and the v1 hierarchy and v2
// controller that implement it (notOnV2: v2 has no equivalent).
type need struct {
	field   string
	v1, v2  string
	asked   bool
	notOnV2 bool
}

func needs(r *cg.Resources) []need {
	return []need{
		{field: "devices", v1: "devices", asked: true},
		{field: "memory", v1: "memory", v2: "memory", asked: r.Memory != 0 || r.MemoryReservation != 0 || r.MemorySwap != 0 || r.OomKillDisable || r.MemorySwappiness != nil},
		{field: "memory.swappiness", v1: "memory", notOnV2: true, asked: r.MemorySwappiness != nil},
		// v2 has no per-cgroup switch for the OOM killer (memory.oom.group
		// is another thing): as runc, whose fs2 driver never reads the
		// field, it is accepted and ignored there. Refusing it made every
		// container of a tool that sets it fail on v2 hosts.
		{field: "memory.disableOOMKiller", v1: "memory", asked: r.OomKillDisable},
		{field: "cpu", v1: "cpu", v2: "cpu", asked: r.CpuShares != 0 || r.CpuQuota != 0 || r.CpuPeriod != 0 || r.CpuBurst != nil || r.CPUIdle != nil},
		{field: "cpu.realtimeRuntime", v1: "cpu", notOnV2: true, asked: r.CpuRtRuntime != 0},
		{field: "cpu.realtimePeriod", v1: "cpu", notOnV2: true, asked: r.CpuRtPeriod != 0},
		{field: "cpu.cpus", v1: "cpuset", v2: "cpuset", asked: r.CpusetCpus != ""},
		{field: "cpu.mems", v1: "cpuset", v2: "cpuset", asked: r.CpusetMems != ""},
		{field: "pids", v1: "pids", v2: "pids", asked: r.PidsLimit != nil},
		{field: "blockIO", v1: "blkio", v2: "io", asked: r.BlkioWeight != 0 || len(r.BlkioWeightDevice) > 0 || len(r.BlkioThrottleReadBpsDevice)+len(r.BlkioThrottleWriteBpsDevice)+len(r.BlkioThrottleReadIOPSDevice)+len(r.BlkioThrottleWriteIOPSDevice) > 0},
		{field: "blockIO.leafWeight", v1: "blkio", notOnV2: true, asked: r.BlkioLeafWeight != 0 || hasLeafWeight(r)},
		{field: "hugepageLimits", v1: "hugetlb", v2: "hugetlb", asked: len(r.HugetlbLimit) > 0},
		{field: "network.classID", v1: "net_cls", notOnV2: true, asked: r.NetClsClassid != 0},
		{field: "network.priorities", v1: "net_prio", notOnV2: true, asked: len(r.NetPrioIfpriomap) > 0},
		{field: "rdma", v1: "rdma", v2: "rdma", asked: len(r.Rdma) > 0},
	}
}

func hasLeafWeight(r *cg.Resources) bool {
	for _, wd := range r.BlkioWeightDevice {
		if wd.LeafWeight != 0 {
			return true
		}
	}
	return false
}

// checkControllers refuses a field whose controller this host lacks.
func (m *Manager) checkControllers(r *cg.Resources) error {
	var avail map[string]bool
	if m.v2 {
		avail = map[string]bool{}
		dir := v2Root
		if m.userManager != "" {
			dir = m.userManager
		}
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("cgroup v2: %w", err)
		}
		for _, c := range strings.Fields(string(b)) {
			avail[c] = true
		}
	}
	if m.v2 {
		// What v2 cannot do at all first: a more useful error than a
		// missing controller.
		for _, n := range needs(r) {
			if n.asked && n.notOnV2 {
				return fmt.Errorf("linux.resources.%s: cgroup v2 has no equivalent; this host uses cgroup v2", n.field)
			}
		}
	}
	for _, n := range needs(r) {
		if !n.asked {
			continue
		}
		if m.v2 {
			if n.v2 != "" && !avail[n.v2] && m.userManager != "" {
				return notDelegated(n.field, n.v2, m.userManager, avail)
			}
			if n.v2 != "" && !avail[n.v2] {
				return fmt.Errorf("linux.resources.%s: the cgroup v2 %q controller is not available on this host", n.field, n.v2)
			}
			continue
		}
		if m.m.Path(n.v1) == "" {
			return fmt.Errorf("linux.resources.%s: the cgroup v1 %q controller is not mounted on this host", n.field, n.v1)
		}
	}
	return nil
}

// checkFiles refuses a field whose file the container's cgroup lacks (the
// kernel was built without it, or its I/O scheduler has no weights). It
// runs on the created cgroup: the root cgroup has a different set of files.
func (m *Manager) checkFiles(r *cg.Resources) error {
	type file struct {
		field string
		asked bool
		ctrl  string
		names []string // any one will do
	}
	var files []file
	if m.v2 {
		files = []file{
			{"memory.swap", r.MemorySwap != 0, "", []string{"memory.swap.max"}},
			{"cpu.burst", r.CpuBurst != nil, "", []string{"cpu.max.burst"}},
			{"cpu.idle", r.CPUIdle != nil, "", []string{"cpu.idle"}},
			{"blockIO.weight", r.BlkioWeight != 0, "", []string{"io.weight", "io.bfq.weight"}},
		}
		for _, h := range r.HugetlbLimit {
			files = append(files, file{"hugepageLimits", true, "", []string{"hugetlb." + h.Pagesize + ".max"}})
		}
	} else {
		files = []file{
			{"memory.swap", r.MemorySwap != 0, "memory", []string{"memory.memsw.limit_in_bytes"}},
			{"memory.swappiness", r.MemorySwappiness != nil, "memory", []string{"memory.swappiness"}},
			{"cpu.quota", r.CpuQuota != 0 || r.CpuPeriod != 0, "cpu", []string{"cpu.cfs_quota_us"}},
			{"cpu.burst", r.CpuBurst != nil, "cpu", []string{"cpu.cfs_burst_us"}},
			{"cpu.idle", r.CPUIdle != nil, "cpu", []string{"cpu.idle"}},
			{"cpu.realtimeRuntime", r.CpuRtRuntime != 0 || r.CpuRtPeriod != 0, "cpu", []string{"cpu.rt_runtime_us"}},
			{"blockIO.weight", r.BlkioWeight != 0, "blkio", []string{"blkio.weight", "blkio.bfq.weight"}},
			{"blockIO.leafWeight", r.BlkioLeafWeight != 0 || hasLeafWeight(r), "blkio", []string{"blkio.leaf_weight"}},
			{"blockIO.weightDevice", len(r.BlkioWeightDevice) > 0, "blkio", []string{"blkio.weight_device", "blkio.bfq.weight_device"}},
			{"blockIO.throttle*", len(r.BlkioThrottleReadBpsDevice)+len(r.BlkioThrottleWriteBpsDevice)+len(r.BlkioThrottleReadIOPSDevice)+len(r.BlkioThrottleWriteIOPSDevice) > 0, "blkio", []string{"blkio.throttle.read_bps_device"}},
		}
		for _, h := range r.HugetlbLimit {
			files = append(files, file{"hugepageLimits", true, "hugetlb", []string{"hugetlb." + h.Pagesize + ".limit_in_bytes"}})
		}
	}
	for _, f := range files {
		if !f.asked {
			continue
		}
		dir := m.m.Path(f.ctrl)
		if dir == "" {
			continue // refused by checkControllers
		}
		if _, err := os.Stat(dir); err != nil {
			continue // not created yet (New): checked again by Apply
		}
		found := false
		for _, n := range f.names {
			if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("linux.resources.%s: not supported by this host: %s has no %s", f.field, dir, strings.Join(f.names, " or "))
		}
	}
	return nil
}

// Join puts pid in the existing cgroup (a process exec'd into the
// container).
//
// With systemd the scope is delegated to the container (Delegate=yes), so
// the pid is written to its cgroup.procs as on cgroupfs, as runc does for
// exec; the library's AddPid would ask systemd over D-Bus instead, which
// is what a rootless strata falls back to when the kernel refuses it.
func (m *Manager) Join(pid int) error {
	join := func() error { return m.m.AddPid("", pid) }
	if m.cfg.Systemd {
		join = func() error {
			err := cg.WriteCgroupProc(m.m.Path(""), pid)
			if m.cfg.Rootless && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) {
				// A move needs write access to cgroup.procs of the
				// cgroup both ends share: from outside the user
				// manager's subtree (a system service, another
				// session's scope) that is root's. The user manager
				// asks the system's to move it, as for the init.
				return m.m.AddPid("", pid)
			}
			return err
		}
	}
	if err := join(); err != nil {
		return fmt.Errorf("join cgroup %s: %w", m.path(), err)
	}
	return nil
}

// OpenForClone opens a cgroup v2 directory as clone3 wants it for
// CLONE_INTO_CGROUP. The kernel takes the fd with fget_raw
// (kernel/cgroup/cgroup.c, cgroup_css_set_fork), so an O_PATH fd will do:
// nothing can be read or written through it. The caller closes it once the
// process is started.
func OpenForClone(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s for clone3: %w", dir, err)
	}
	return os.NewFile(uintptr(fd), dir), nil
}

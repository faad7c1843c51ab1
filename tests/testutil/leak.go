package testutil

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Guard snapshots the host before a test and reports, after it, what the
// runtime left behind for one container: mounts, state in the --root
// directory, cgroup directories, processes.
//
// Tests run in parallel, so each check is scoped to what this container could
// have made: mountinfo lines naming the test's directory (or the extra paths
// given), --root entries naming the ID, cgroups named by the ID, processes
// carrying the ID's marker in their environment or living in its cgroup.
type Guard struct {
	id     string
	root   string
	scope  []string
	mounts map[string]bool
	roots  map[string]bool
}

// NewGuard snapshots the host now for container id with state under root;
// scope lists host paths whose mounts the test is responsible for.
func NewGuard(id, root string, scope ...string) *Guard {
	return &Guard{id: id, root: root, scope: append([]string{root}, scope...), mounts: mountSet(), roots: rootSet(root)}
}

// Guard snapshots the host for this container: its directory and any extra
// host paths it might wrongly mount on.
func (c *Container) Guard(extra ...string) *Guard {
	return NewGuard(c.ID, c.Root, append([]string{c.Dir}, extra...)...)
}

// Check fails the test with every leftover found. Processes get a moment to
// finish exiting after a kill.
func (g *Guard) Check(t testing.TB) {
	t.Helper()
	var leaks []string
	for range 30 {
		leaks = g.leaks()
		if len(leaks) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("container %s left behind:\n  %s", g.id, strings.Join(leaks, "\n  "))
}

func (g *Guard) leaks() []string {
	var leaks []string
	for line := range mountSet() {
		if g.mounts[line] {
			continue
		}
		for _, p := range g.scope {
			if strings.Contains(line, p) {
				leaks = append(leaks, "mount: "+line)
				break
			}
		}
	}
	for name := range rootSet(g.root) {
		if !g.roots[name] && strings.Contains(name, g.id) {
			leaks = append(leaks, "state: "+filepath.Join(g.root, name))
		}
	}
	for _, d := range cgroupDirs(g.id) {
		leaks = append(leaks, "cgroup: "+d)
	}
	for _, p := range g.processes() {
		leaks = append(leaks, "process: "+p)
	}
	return leaks
}

func mountSet() map[string]bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	set := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		// Drop the mount ID and parent ID: a mount made and unmade by another
		// test must not look like a change of this line.
		if f := strings.SplitN(line, " ", 3); len(f) == 3 {
			set[f[2]] = true
		}
	}
	return set
}

func rootSet(root string) map[string]bool {
	entries, _ := os.ReadDir(root)
	set := map[string]bool{}
	for _, e := range entries {
		set[e.Name()] = true
	}
	return set
}

// processes lists live processes belonging to the container: the runtime's
// helpers (marked through the environment) and whatever runs in its cgroup.
func (g *Guard) processes() []string {
	marker := []byte(markerEnv + "=" + g.id + "\x00")
	// The cgroup path ends at a newline or goes on into a child cgroup.
	cgroupLeaf, cgroupChild := []byte(CgroupParent+"/"+g.id+"\n"), []byte(CgroupParent+"/"+g.id+"/")
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		env, _ := os.ReadFile(filepath.Join(dir, "environ"))
		cg, _ := os.ReadFile(filepath.Join(dir, "cgroup"))
		inCgroup := bytes.Contains(cg, cgroupLeaf) || bytes.Contains(cg, cgroupChild)
		if bytes.Contains(env, marker) || inCgroup {
			cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
			found = append(found, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(bytes.TrimSpace(cmdline), []byte{0}, []byte{' '})))
		}
	}
	return found
}

// MachineGuard is the whole-machine form of Guard, for a run of many
// containers (the soak test): it snapshots every mount of the caller's mount
// namespace, every cgroup directory under every hierarchy, the whole --root
// directory and every process, and reports what is new afterwards.
//
// Mounts and the --root directory are compared whole: run it where nothing
// else mounts (tests/soak gives itself a mount namespace of its own) and with
// a --root only its containers use. Cgroup directories and processes are
// scoped, since other test binaries share the machine: a new cgroup directory
// is a leak when a component of its path is a tracked container ID; a new
// process when it descends from this process, carries a tracked ID's marker,
// lives in a tracked ID's cgroup, has its cwd, root, executable or an open file
// below one of the scope paths (a container's init holds its exec fifo in
// --root from its first instruction, and its root is the rootfs), or is a
// zombie whose parent is one of those. Zombies count as leaks until reaped.
type MachineGuard struct {
	root   string
	scope  []string
	mu     sync.Mutex
	ids    map[string]bool
	mounts map[string]bool
	cgs    map[string]bool
	roots  map[string]bool
	procs  map[procKey]bool
}

type procKey struct {
	pid   int
	start string
}

// NewMachineGuard snapshots the machine now. root is the --root directory
// (included in scope); scope lists the host paths the containers' files live
// under (bundles, rootfs).
func NewMachineGuard(root string, scope ...string) *MachineGuard {
	g := &MachineGuard{
		root: root, scope: append([]string{root}, scope...), ids: map[string]bool{},
		mounts: mountSet(), cgs: map[string]bool{}, roots: rootSet(root), procs: map[procKey]bool{},
	}
	for _, d := range allCgroupDirs() {
		g.cgs[d] = true
	}
	for _, p := range readProcs() {
		g.procs[p.key] = true
	}
	return g
}

// Track adds container IDs to the guard; safe from several goroutines.
func (g *MachineGuard) Track(ids ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		g.ids[id] = true
	}
}

// IDs returns the tracked container IDs.
func (g *MachineGuard) IDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, 0, len(g.ids))
	for id := range g.ids {
		ids = append(ids, id)
	}
	return ids
}

// Check fails the test with every leftover still there after grace: exiting
// processes get that long to be reaped, cgroups to be emptied.
func (g *MachineGuard) Check(t testing.TB, grace time.Duration) {
	t.Helper()
	deadline := time.Now().Add(grace)
	for {
		leaks := g.Leaks()
		if len(leaks) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d containers left %d things behind:\n  %s", len(g.IDs()), len(leaks), strings.Join(summarize(leaks, 12), "\n  "))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// summarize keeps the first max leaks of each kind (the word before the
// colon) and says how many more there are.
func summarize(leaks []string, max int) []string {
	var out []string
	count := map[string]int{}
	for _, l := range leaks {
		kind, _, _ := strings.Cut(l, ":")
		if count[kind]++; count[kind] <= max {
			out = append(out, l)
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(count)) {
		if n := count[kind]; n > max {
			out = append(out, fmt.Sprintf("... %d %s leaks in all", n, kind))
		}
	}
	return out
}

// Leaks lists what is there now and was not at the snapshot.
func (g *MachineGuard) Leaks() []string {
	g.mu.Lock()
	ids := maps.Clone(g.ids)
	g.mu.Unlock()
	var leaks []string
	for line := range mountSet() {
		if !g.mounts[line] {
			leaks = append(leaks, "mount: "+line)
		}
	}
	for name := range rootSet(g.root) {
		if !g.roots[name] {
			leaks = append(leaks, "state: "+filepath.Join(g.root, name))
		}
	}
	for _, d := range allCgroupDirs() {
		if !g.cgs[d] && namesID(d, ids) {
			leaks = append(leaks, "cgroup: "+d)
		}
	}
	for _, p := range g.processes(ids, g.scope) {
		leaks = append(leaks, "process: "+p)
	}
	sort.Strings(leaks)
	return leaks
}

// Processes lists the live (or unreaped) processes that belong to the
// tracked containers, whenever they started.
func (g *MachineGuard) Processes() []string {
	g.mu.Lock()
	ids := maps.Clone(g.ids)
	g.mu.Unlock()
	return g.processes(ids, g.scope)
}

// ProcessesOf lists the processes that belong to container id, whether or not
// it is tracked, with paths (its bundle, say) in place of the guard's scope;
// its state directory in --root is always included. For a test that must see
// one container's processes gone while others may run.
func (g *MachineGuard) ProcessesOf(id string, paths ...string) []string {
	return g.processes(map[string]bool{id: true}, append([]string{filepath.Join(g.root, id)}, paths...))
}

// CgroupDirsOf lists every directory, under every cgroup hierarchy, one of
// whose path components is id.
func CgroupDirsOf(id string) []string {
	var dirs []string
	for _, d := range allCgroupDirs() {
		if namesID(d, map[string]bool{id: true}) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// Sweep removes what the tracked containers left, so that a failed run does
// not leave it on the machine: `delete --force` of each, then their cgroups
// (killing what runs there), then any process still found. Mounts are
// reported by Check, not undone.
func (g *MachineGuard) Sweep(t testing.TB) {
	t.Helper()
	for _, id := range g.IDs() {
		if _, err := os.Stat(filepath.Join(g.root, id)); err == nil {
			Exec(t, Command(g.root, id, "delete", "--force", id))
		}
		removeCgroups(t, id)
	}
	for _, p := range g.Processes() {
		var pid int
		if _, err := fmt.Sscan(p, &pid); err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	removeCgroupParents()
}

func (g *MachineGuard) processes(ids map[string]bool, scope []string) []string {
	procs := readProcs()
	self := os.Getpid()
	byPid := map[int]*procInfo{}
	for i := range procs {
		byPid[procs[i].pid] = &procs[i]
	}
	descends := func(p *procInfo) bool {
		for seen := 0; p != nil && seen < 64; seen++ {
			if p.ppid == self {
				return true
			}
			p = byPid[p.ppid]
		}
		return false
	}
	owned := map[int]bool{}
	for i := range procs {
		p := &procs[i]
		if p.pid == self || g.procs[p.key] {
			continue
		}
		if descends(p) || g.marked(p.pid, ids) || inCgroupOf(p.pid, ids) || usesPaths(p.pid, scope) {
			owned[p.pid] = true
		}
	}
	var found []string
	for i := range procs {
		p := &procs[i]
		if p.pid == self || g.procs[p.key] {
			continue
		}
		if owned[p.pid] || (p.state == "Z" && owned[p.ppid]) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
			found = append(found, fmt.Sprintf("%d (state %s, parent %d) %s", p.pid, p.state, p.ppid,
				bytes.ReplaceAll(bytes.TrimSpace(cmdline), []byte{0}, []byte{' '})))
		}
	}
	return found
}

func (g *MachineGuard) marked(pid int, ids map[string]bool) bool {
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(markerEnv+"=")); ok && ids[string(v)] {
			return true
		}
	}
	return false
}

// inCgroupOf tells whether pid's cgroup path, in any hierarchy, names an ID.
func inCgroupOf(pid int, ids map[string]bool) bool {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && namesID(f[2], ids) {
			return true
		}
	}
	return false
}

// usesPaths tells whether pid's cwd, root, executable or an open file lies
// below one of paths.
func usesPaths(pid int, paths []string) bool {
	dir := fmt.Sprintf("/proc/%d", pid)
	links := []string{dir + "/cwd", dir + "/root", dir + "/exe"}
	fds, _ := os.ReadDir(dir + "/fd")
	for _, fd := range fds {
		links = append(links, dir+"/fd/"+fd.Name())
	}
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		for _, s := range paths {
			if target == s || strings.HasPrefix(target, s+"/") {
				return true
			}
		}
	}
	return false
}

func namesID(path string, ids map[string]bool) bool {
	for _, c := range strings.Split(path, "/") {
		if ids[c] {
			return true
		}
	}
	return false
}

// allCgroupDirs lists every directory under every cgroup hierarchy.
func allCgroupDirs() []string {
	var dirs []string
	for _, h := range cgroupfs.Hierarchies() {
		filepath.WalkDir(h, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	return dirs
}

type procInfo struct {
	key   procKey
	pid   int
	ppid  int
	state string
}

// readProcs reads every process's /proc/PID/stat: pid, state, parent and
// start time (which tells a process from a later one given the same pid).
func readProcs() []procInfo {
	entries, _ := os.ReadDir("/proc")
	var procs []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 20 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		procs = append(procs, procInfo{key: procKey{pid, f[19]}, pid: pid, ppid: ppid, state: f[0]})
	}
	return procs
}

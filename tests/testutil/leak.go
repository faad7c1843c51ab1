package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

//go:build cri

package cri

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-runtime/strata/tests/cgroupfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// The cgroup driver the pods are run with, as the kubelet's cgroupDriver:
// CRI_CGROUP_DRIVER=cgroupfs (the default: cgroup parents are paths the
// test makes, the runtime makes <parent>/<id>) or systemd (containerd's
// SystemdCgroup = true for both handlers: the shim passes the runtime
// --systemd-cgroup, the pod's parent is a kubepods-...slice and each
// container a transient cri-containerd-<id>.scope systemd makes over
// D-Bus). systemd needs systemd as init and cgroup v2 (the guests of
// tests/vm).
func cgroupDriver() string {
	if d := os.Getenv("CRI_CGROUP_DRIVER"); d != "" {
		return d
	}
	return "cgroupfs"
}

// checkDriver fails the run for a driver this machine cannot have.
func checkDriver() error {
	switch cgroupDriver() {
	case "cgroupfs":
		return nil
	case "systemd":
		if st, err := os.Lstat("/run/systemd/system"); err != nil || !st.IsDir() {
			return fmt.Errorf("CRI_CGROUP_DRIVER=systemd needs systemd as init (no /run/systemd/system)")
		}
		if !cgroupV2() {
			return fmt.Errorf("CRI_CGROUP_DRIVER=systemd: the checks read cgroup v2 files; /sys/fs/cgroup is not cgroup2")
		}
		return nil
	}
	return fmt.Errorf("CRI_CGROUP_DRIVER=%q: want cgroupfs or systemd", cgroupDriver())
}

func systemdDriver() bool { return cgroupDriver() == "systemd" }

// cgroupV2 says whether /sys/fs/cgroup is the unified hierarchy alone.
func cgroupV2() bool {
	hs := cgroupfs.Hierarchies()
	return len(hs) == 1 && hs[0] == "/sys/fs/cgroup"
}

var notUnitChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// podCgroup makes the pod's cgroup parent, as the kubelet would, and
// returns what CRI is told (cgroup_parent) and its path below the cgroup
// root. cgroupfs: a directory below the test's cgroup tree. systemd: the
// slice kubepods-besteffort-pod<uid>.slice (a dash in a slice's name is a
// level: systemd makes kubepods.slice/kubepods-besteffort.slice above it
// when the first scope lands there); the test stops the slices it brought
// into being at the end, which removes their cgroups.
func podCgroup(t *testing.T, e *criEnv, name string) (parent, path string) {
	t.Helper()
	if !systemdDriver() {
		path = e.cgroup + "/" + name
		makeCgroup(t, path)
		return path, path
	}
	// The kubelet's form: the pod UID with its dashes as underscores.
	uid := notUnitChar.ReplaceAllString(tu.UniqueID(t), "_")
	slices := []string{"kubepods.slice", "kubepods-besteffort.slice", "kubepods-besteffort-pod" + uid + ".slice"}
	path = "/" + strings.Join(slices, "/")
	var ours []string
	for i := range slices {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", strings.Join(slices[:i+1], "/"))); err != nil {
			ours = append(ours, slices[i])
		}
	}
	if len(ours) == 0 || ours[len(ours)-1] != slices[2] {
		t.Fatalf("the pod's slice %s exists already: not the test's to use", path)
	}
	t.Cleanup(func() {
		// Deepest first: a slice holding another cannot be stopped alone.
		for i := len(ours) - 1; i >= 0; i-- {
			if out, err := exec.Command("systemctl", "stop", ours[i]).CombinedOutput(); err != nil {
				t.Errorf("systemctl stop %s: %v: %s", ours[i], err, out)
			}
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", path)); err == nil {
			t.Errorf("the pod's slice %s is still there after systemctl stop", path)
		}
	})
	return slices[2], path
}

// containerCgroup is a container's cgroup below the cgroup root: what the
// runtime made for cgroupsPath <parent>:cri-containerd:<id> (systemd) or
// <parent>/<id> (cgroupfs), as containerd's CRI asks.
func (p *pod) containerCgroup(id string) string {
	if systemdDriver() {
		return p.cgroup + "/" + scopeName(id)
	}
	return p.cgroup + "/" + id
}

func scopeName(id string) string { return "cri-containerd-" + id + ".scope" }

// systemdScope (systemd driver): the container's process is in the scope
// systemd made for it (its /proc/<pid>/cgroup names it, and systemd knows
// the unit as an active scope in the pod's slice, delegated, with the
// memory limit the container was created with: 0 is none, "infinity").
func (p *pod) systemdScope(t *testing.T, id string, memory int64) {
	pid := p.containerPid(t, id)
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatalf("container %s's process %d: %v", id, pid, err)
	}
	if want := "0::" + p.containerCgroup(id) + "\n"; string(data) != want {
		t.Errorf("container %s's process %d is in %q, want the scope's %q", id, pid, data, want)
	}
	props := unitProperties(t, scopeName(id), "ActiveState", "Slice", "Delegate", "MemoryMax")
	memoryMax := "infinity"
	if memory != 0 {
		memoryMax = fmt.Sprint(memory)
	}
	want := map[string]string{"ActiveState": "active", "Slice": filepath.Base(p.cgroup), "Delegate": "yes", "MemoryMax": memoryMax}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("systemctl show %s: %s=%q, want %q (all: %v)", scopeName(id), k, props[k], v, props)
		}
	}
}

// scopeGone (systemd driver): after the pod's teardown systemd no longer
// has the containers' scopes, and their cgroups are gone.
func (p *pod) scopesGone(t *testing.T, ids ...string) {
	for _, id := range ids {
		// systemd drops a stopped transient unit: it may take a moment.
		deadline := time.Now().Add(10 * time.Second)
		for {
			props := unitProperties(t, scopeName(id), "LoadState", "ActiveState")
			if props["LoadState"] == "not-found" || props["ActiveState"] == "inactive" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("systemd still has %s after the pod's teardown: %v", scopeName(id), props)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", p.containerCgroup(id))); err == nil {
			t.Errorf("cgroup %s is still there after the pod's teardown", p.containerCgroup(id))
		}
	}
}

// unitProperties is `systemctl show -p ... unit` as a map.
func unitProperties(t *testing.T, unit string, names ...string) map[string]string {
	t.Helper()
	args := []string{"show", unit}
	for _, n := range names {
		args = append(args, "-p", n)
	}
	out := must(t, tu.Exec(t, exec.Command("systemctl", args...)))
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	return props
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// userBus is the user's session bus, where its systemd manager
// (user@UID.service) answers: tests/vm's guest.sh starts that manager for
// the rootless suite with `loginctl enable-linger`, and dbus-user-session
// gives it the bus socket.
func (u *loginUser) userBus(t *testing.T) []string {
	t.Helper()
	sock := filepath.Join(u.xdg, "bus")
	if st, err := os.Stat(sock); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the user's session bus %s: %v (want a socket: the user's systemd manager running, as after `loginctl enable-linger %s`, and dbus-user-session installed)", sock, err, u.name)
	}
	return []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + sock}
}

// TestRootlessSystemdCgroup: as the user, `--systemd-cgroup run -d` of a
// bundle with memory and pids limits puts the container in a transient
// scope of the user's own systemd manager, in the subtree systemd
// delegates to it, with the limits applied (systemd's properties and the
// cgroup files); an exec'd process joins the scope, `update` changes the
// limit, and after delete neither the scope nor the container's state is
// left. Without a reachable session bus the create fails and leaves
// nothing.
func TestRootlessSystemdCgroup(t *testing.T) {
	u := rootlessLogin(t)
	bus := u.userBus(t)
	dir := workDir(t, "rootless-systemd")
	bundle := u.specBundle(t, dir)
	manager := fmt.Sprintf("/sys/fs/cgroup/user.slice/user-%d.slice/user@%d.service", u.uid, u.uid)
	delegated, err := os.ReadFile(filepath.Join(manager, "cgroup.controllers"))
	if err != nil {
		t.Fatalf("the user's manager's cgroup: %v", err)
	}
	t.Logf("controllers delegated to user@%d.service: %s", u.uid, strings.TrimSpace(string(delegated)))

	id := tu.UniqueID(t)
	const memory, pids = 64 << 20, 32
	setProcess(t, bundle, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "user.slice:e2e:" + id
		mem, n := int64(memory), int64(pids)
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &n}}
	}, "sleep", "1000")
	rt := func(args ...string) tu.Result {
		return tu.Exec(t, u.command(bundle, bus, tu.RuntimePath(), append([]string{"--systemd-cgroup"}, args...)...))
	}
	unit := "e2e-" + id + ".scope"
	scope := filepath.Join(manager, "user.slice", unit)
	state := filepath.Join(u.xdg, filepath.Base(tu.RuntimePath()), id)
	t.Cleanup(func() {
		rt("delete", "--force", id)
		// Should delete have failed: the scope is the user manager's to stop.
		tu.Exec(t, u.command(bundle, bus, "systemctl", "--user", "stop", unit))
	})
	must(t, rt("run", "-d", id))

	show := func() map[string]string {
		out := must(t, tu.Exec(t, u.command(bundle, bus, "systemctl", "--user", "show", unit, "-p", "ActiveState", "-p", "MemoryMax", "-p", "TasksMax", "-p", "ControlGroup")))
		props := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				props[k] = v
			}
		}
		return props
	}
	p := show()
	if p["ActiveState"] != "active" || p["MemoryMax"] != strconv.Itoa(memory) || p["TasksMax"] != strconv.Itoa(pids) {
		t.Errorf("systemctl --user show %s: %v, want active, MemoryMax=%d, TasksMax=%d", unit, p, memory, pids)
	}
	if want := strings.TrimPrefix(scope, "/sys/fs/cgroup"); p["ControlGroup"] != want {
		t.Errorf("scope's ControlGroup %q, want %q (below the user's manager)", p["ControlGroup"], want)
	}
	for file, want := range map[string]string{"memory.max": strconv.Itoa(memory), "pids.max": strconv.Itoa(pids)} {
		if got := readTrim(t, filepath.Join(scope, file)); got != want {
			t.Errorf("%s/%s = %q, want %q", scope, file, got, want)
		}
	}
	initPid := statePid(t, rt("state", id))
	if procs := readTrim(t, filepath.Join(scope, "cgroup.procs")); !hasLine(procs, strconv.Itoa(initPid)) {
		t.Errorf("the container's init %d is not in %s/cgroup.procs: %q", initPid, scope, procs)
	}

	t.Run("exec", func(t *testing.T) {
		must(t, rt("exec", "-d", id, "sleep", "999"))
		if !eventually(func() bool { return scopeHas(scope, "sleep\x00999\x00") }) {
			t.Errorf("the exec'd sleep 999 is not in %s", scope)
		}
	})
	t.Run("update", func(t *testing.T) {
		const more = 128 << 20
		must(t, rt("update", "--memory", strconv.Itoa(more), id))
		if got := show()["MemoryMax"]; got != strconv.Itoa(more) {
			t.Errorf("MemoryMax after update: %s, want %d", got, more)
		}
		if got := readTrim(t, filepath.Join(scope, "memory.max")); got != strconv.Itoa(more) {
			t.Errorf("memory.max after update: %s, want %d", got, more)
		}
	})

	must(t, rt("delete", "--force", id))
	if !eventually(func() bool { _, err := os.Stat(scope); return os.IsNotExist(err) }) {
		t.Errorf("%s left after delete", scope)
	}
	if st := show()["ActiveState"]; st != "inactive" {
		t.Errorf("%s is %s after delete, want inactive (gone)", unit, st)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the container's state %s after delete: %v, want it gone", state, err)
	}

	t.Run("not-delegated", func(t *testing.T) {
		tu.StrataOnly(t, "the refusal of a controller the user's manager lacks is strata's")
		if strings.Contains(" "+string(delegated)+" ", " cpuset ") {
			t.Fatalf("cpuset is delegated to user@%d.service here: this case needs a controller that is not", u.uid)
		}
		b := u.userDir(t, dir, "bundle-cpuset")
		must(t, tu.Exec(t, exec.Command("cp", "-a", filepath.Join(bundle, "rootfs"), filepath.Join(b, "rootfs"))))
		must(t, tu.Exec(t, exec.Command("cp", filepath.Join(bundle, "config.json"), filepath.Join(b, "config.json"))))
		if err := os.Chown(filepath.Join(b, "config.json"), u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
		id := tu.UniqueID(t)
		setProcess(t, b, func(s *specs.Spec) {
			s.Linux.CgroupsPath = "user.slice:e2e:" + id
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}
		}, "true")
		r := tu.Exec(t, u.command(b, bus, tu.RuntimePath(), "--systemd-cgroup", "run", id))
		t.Cleanup(func() { tu.Exec(t, u.command(b, bus, tu.RuntimePath(), "delete", "--force", id)) })
		if want := `linux.resources.cpu.cpus: the cgroup v2 "cpuset" controller is not delegated to the user's systemd manager`; r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("want a refusal saying %q: %s", want, r)
		}
		if _, err := os.Stat(filepath.Join(manager, "user.slice", "e2e-"+id+".scope")); !os.IsNotExist(err) {
			t.Errorf("a scope after the refusal: %v", err)
		}
		if _, err := os.Stat(filepath.Join(u.xdg, filepath.Base(tu.RuntimePath()), id)); !os.IsNotExist(err) {
			t.Errorf("state after the refusal: %v", err)
		}
	})
	t.Run("no-session-bus", func(t *testing.T) {
		// A runtime directory of the user's without a bus in it, and no
		// DBUS_SESSION_BUS_ADDRESS.
		xdg := u.userDir(t, dir, "xdg")
		id := tu.UniqueID(t)
		r := tu.Exec(t, u.command(bundle, []string{"XDG_RUNTIME_DIR=" + xdg}, tu.RuntimePath(), "--systemd-cgroup", "run", "-d", id))
		t.Cleanup(func() {
			tu.Exec(t, u.command(bundle, []string{"XDG_RUNTIME_DIR=" + xdg}, tu.RuntimePath(), "delete", "--force", id))
		})
		if r.Code == 0 {
			t.Fatalf("run without a session bus succeeded: %s", r)
		}
		if tu.IsStrata() && (!strings.Contains(r.Stderr, filepath.Join(xdg, "bus")) || !strings.Contains(r.Stderr, "loginctl enable-linger")) {
			t.Errorf("want the error to name %s and `loginctl enable-linger`: %s", filepath.Join(xdg, "bus"), r)
		}
		if left := entriesBelow(filepath.Join(xdg, filepath.Base(tu.RuntimePath()))); hasPrefixKey(left, id) {
			t.Errorf("state left after the refused create: %v", left)
		}
	})
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
	}
	return strings.TrimSpace(string(b))
}

// statePid is the container's init, from `state`'s JSON.
func statePid(t *testing.T, r tu.Result) int {
	t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(must(t, r)), &st); err != nil || st.Pid <= 0 {
		t.Fatalf("state: %v, pid %d: %s", err, st.Pid, r)
	}
	return st.Pid
}

func hasLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func hasPrefixKey(m map[string]bool, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// scopeHas says whether a process of the cgroup dir has the command line
// cmdline (NUL-separated, as /proc/PID/cmdline).
func scopeHas(dir, cmdline string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return false
	}
	for _, pid := range strings.Fields(string(b)) {
		if c, _ := os.ReadFile("/proc/" + pid + "/cmdline"); string(c) == cmdline {
			return true
		}
	}
	return false
}

// eventually polls cond for up to five seconds: systemd stops a scope, and
// an exec'd process starts, a moment after the command returns.
func eventually(cond func() bool) bool {
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Rootless, an empty slice is the user manager's user.slice (runc's and the
// library's default), and the library is told to use the user's manager.
func TestSystemdUserCgroupsPath(t *testing.T) {
	for path, want := range map[string][3]string{
		"":                      {"user.slice", "strata", "ctr"},
		":podman:abc":           {"user.slice", "podman", "abc"},
		"app.slice:strata:web":  {"app.slice", "strata", "web"},
		"user.slice:strata:web": {"user.slice", "strata", "web"},
	} {
		c, err := Config("ctr", &specs.Spec{Linux: &specs.Linux{CgroupsPath: path}}, SystemdUser)
		if err != nil {
			t.Fatalf("%q: %v", path, err)
		}
		got := [3]string{c.Parent, c.ScopePrefix, c.Name}
		if got != want || !c.Systemd || !c.Rootless {
			t.Errorf("cgroupsPath %q: slice, prefix, name %q (systemd %v, rootless %v), want %q, both true", path, got, c.Systemd, c.Rootless, want)
		}
	}
	if c, _ := Config("ctr", &specs.Spec{Linux: &specs.Linux{}}, Systemd); c.Rootless {
		t.Error("the system's systemd driver is marked rootless")
	}
}

func TestUserManagerDir(t *testing.T) {
	c, err := Config("web", &specs.Spec{Linux: &specs.Linux{}}, SystemdUser)
	if err != nil {
		t.Fatal(err)
	}
	const mgr = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service"
	if got := userManagerDir(mgr+"/user.slice/strata-web.scope", c); got != mgr {
		t.Errorf("manager of %s: %q, want %q", mgr+"/user.slice/strata-web.scope", got, mgr)
	}
	c.Parent = "app-web.slice"
	if got := userManagerDir(mgr+"/app.slice/app-web.slice/strata-web.scope", c); got != mgr {
		t.Errorf("manager with a nested slice: %q, want %q", got, mgr)
	}
	if got := userManagerDir("/sys/fs/cgroup/elsewhere/strata-web.scope", c); got != "" {
		t.Errorf("manager of a path of another form: %q, want \"\"", got)
	}
}

// Without a session bus the refusal names the socket it looked for and
// what starts the user's manager.
func TestUserBusAddress(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	_, err := userBusAddress()
	sock := filepath.Join(xdg, "bus")
	if err == nil || !strings.Contains(err.Error(), "no D-Bus session bus socket "+sock) || !strings.Contains(err.Error(), "loginctl enable-linger") {
		t.Errorf("no socket: %v, want it named, with the linger hint", err)
	}
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if a, err := userBusAddress(); err != nil || a != "unix:path="+sock {
		t.Errorf("with %s: %q, %v", sock, a, err)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if _, err := userBusAddress(); err == nil || !strings.Contains(err.Error(), "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR") {
		t.Errorf("no XDG_RUNTIME_DIR: %v", err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/somewhere")
	if a, err := userBusAddress(); err != nil || a != "unix:path=/somewhere" {
		t.Errorf("DBUS_SESSION_BUS_ADDRESS: %q, %v", a, err)
	}
}

func TestNotDelegated(t *testing.T) {
	err := notDelegated("cpu", "cpu", "/m", map[string]bool{"pids": true, "memory": true})
	want := `linux.resources.cpu: the cgroup v2 "cpu" controller is not delegated to the user's systemd manager (/m/cgroup.controllers has "memory pids"); a drop-in for user@.service with Delegate=memory pids cpu`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v\nwant %s...", err, want)
	}
}

// A resource is checked against the controllers systemd delegates to the
// user's manager, not the host's: cpuset, which the root has, is refused
// when the manager's cgroup.controllers lacks it.
func TestUserManagerControllers(t *testing.T) {
	mgr := t.TempDir()
	if err := os.WriteFile(filepath.Join(mgr, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Config("web", &specs.Spec{Linux: &specs.Linux{}}, SystemdUser)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{cfg: c, v2: true, userManager: mgr}
	limit := int64(1 << 26)
	ok, err := Resources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, Pids: &specs.LinuxPids{Limit: &limit}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.checkControllers(ok); err != nil {
		t.Errorf("memory and pids, delegated: %v", err)
	}
	cpuset, err := Resources(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `linux.resources.cpu.cpus: the cgroup v2 "cpuset" controller is not delegated to the user's systemd manager (` + mgr + `/cgroup.controllers has "cpu memory pids")`
	if err := m.checkControllers(cpuset); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("cpuset, not delegated: %v\nwant %s...", err, want)
	}
}

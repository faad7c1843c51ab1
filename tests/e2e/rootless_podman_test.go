//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestRootlessPodman: rootless podman 4.3 (as E2E_ROOTLESS_USER; see
// rootlessLogin) with the runtime under test as its --runtime runs busybox
// loaded from an archive: root inside is the user, the rest of the
// container's ids are the user's subordinate range (podman's namespace,
// made by newuidmap), the runtime (run by conmon inside that namespace,
// rootless there too) keeps the container in the user's runtime directory
// while it runs, and nothing is left after `podman rm`.
func TestRootlessPodman(t *testing.T) {
	u := rootlessLogin(t)
	p := setupRootlessPodman(t, u)
	out := must(t, p.podman(t, "load", "-i", dockerArchive(t, p.dir)))
	if !strings.Contains(out, imageName) {
		t.Fatalf("podman load: want %s loaded, got %q", imageName, out)
	}
	before := u.runtimeEntries()

	r := p.podman(t, "run", "--rm", "--network", "none", imageName, "sh", "-c", "id -u; cat /proc/self/uid_map")
	want := fmt.Sprintf("0\n0 %d 1\n1 %d 65536\n", u.uid, u.subuid)
	if r.Code != 0 || normalizeMaps(r.Stdout) != want {
		t.Fatalf("podman run: want %q (root the user, 1-65536 its subordinate ids): %s", want, r)
	}

	name := tu.UniqueID(t)
	id := strings.TrimSpace(must(t, p.podman(t, "run", "-d", "--network", "none", "--name", name, imageName, "sleep", "1000")))
	// conmon ran the runtime under test: it lists the container in its
	// rootless root (podman unshare: the namespace the runtime ran in).
	if listed := must(t, p.podman(t, "unshare", tu.RuntimePath(), "list", "-q")); !strings.Contains(listed, id) {
		t.Errorf("%s list (as the user, in podman's namespace) does not show %s: %q", tu.RuntimePath(), id, listed)
	}
	if r := p.podman(t, "exec", name, "id", "-u"); r.Code != 0 || r.Stdout != "0\n" {
		t.Errorf("podman exec id -u: want 0: %s", r)
	}
	must(t, p.podman(t, "rm", "-f", "-t", "0", name))
	if listed := must(t, p.podman(t, "unshare", tu.RuntimePath(), "list", "-q")); strings.Contains(listed, id) {
		t.Errorf("%s still lists %s after podman rm", tu.RuntimePath(), id)
	}
	u.nothingLeft(t, before)
}

// TestRootlessPodmanSystemd: rootless podman with --cgroup-manager systemd
// (its default where the user has a session bus) runs the runtime with
// --systemd-cgroup: the container's cgroup is a scope of the user's systemd
// manager, below user@UID.service, with podman's --memory as MemoryMax and
// the container's init in it; after `podman rm` the scope is gone.
func TestRootlessPodmanSystemd(t *testing.T) {
	u := rootlessLogin(t)
	bus := u.userBus(t)
	p := setupRootlessPodman(t, u)
	p.cgroupManager = "systemd"
	p.env = append(p.env, bus...)
	must(t, p.podman(t, "load", "-i", dockerArchive(t, p.dir)))
	name := tu.UniqueID(t)
	id := strings.TrimSpace(must(t, p.podman(t, "run", "-d", "--network", "none", "--memory", "64m", "--name", name, imageName, "sleep", "1000")))
	unit := "libpod-" + id + ".scope"
	show := func() map[string]string {
		out := must(t, tu.Exec(t, u.command(p.dir, bus, "systemctl", "--user", "show", unit, "-p", "ActiveState", "-p", "MemoryMax", "-p", "ControlGroup")))
		props := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				props[k] = v
			}
		}
		return props
	}
	props := show()
	if props["ActiveState"] != "active" || props["MemoryMax"] != "67108864" || !strings.Contains(props["ControlGroup"], fmt.Sprintf("/user@%d.service/", u.uid)) {
		t.Errorf("systemctl --user show %s: %v; want it active, MemoryMax=67108864, below user@%d.service", unit, props, u.uid)
	}
	pid := strings.TrimSpace(must(t, p.podman(t, "inspect", "--format", "{{.State.Pid}}", name)))
	if procs := readTrim(t, filepath.Join("/sys/fs/cgroup", props["ControlGroup"], "cgroup.procs")); !hasLine(procs, pid) {
		t.Errorf("the container's init %s is not in its scope's cgroup.procs: %q", pid, procs)
	}
	must(t, p.podman(t, "rm", "-f", "-t", "0", name))
	if st := show()["ActiveState"]; st == "active" {
		t.Errorf("scope %s still active after podman rm", unit)
	}
}

// rootlessPodman is podman run as the user, with every directory of its
// own in the test's (the user's default storage and runtime dirs unused).
type rootlessPodman struct {
	u   *loginUser
	dir string
	env []string
	// cgroupManager is podman's --cgroup-manager: cgroupfs (a rootless
	// container then has no cgroup) unless a test sets systemd.
	cgroupManager string
}

func (p *rootlessPodman) podman(t *testing.T, args ...string) tu.Result {
	t.Helper()
	flags := []string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "runroot"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
		"--runtime", tu.RuntimePath(),
		"--cgroup-manager", p.cgroupManager,
		"--events-backend", "file",
		"--storage-driver", "overlay",
	}
	return tu.Exec(t, p.u.command(p.dir, p.env, "podman", append(flags, args...)...))
}

// setupRootlessPodman writes podman's configuration into a directory of the
// user's (short: podman refuses a runroot path of more than 50 bytes), and registers the cleanups: every container removed, podman's
// pause process (which holds its user namespace) stopped, and no process
// left naming the directory.
func setupRootlessPodman(t *testing.T, u *loginUser) *rootlessPodman {
	t.Helper()
	p := &rootlessPodman{u: u, dir: workDir(t, "rp"), cgroupManager: "cgroupfs"}
	if err := os.Chown(p.dir, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`[containers]
default_ulimits = []
[engine]
lock_type = "file"
events_logger = "file"
events_logfile_path = %q
static_dir = %q
volume_path = %q
[network]
network_config_dir = %q
`, filepath.Join(p.dir, "events.log"), filepath.Join(p.dir, "root", "libpod"), filepath.Join(p.dir, "volumes"), filepath.Join(p.dir, "networks"))
	storage := fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
`, filepath.Join(p.dir, "root"), filepath.Join(p.dir, "runroot"))
	for name, content := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.env = []string{"CONTAINERS_CONF=" + filepath.Join(p.dir, "containers.conf"), "CONTAINERS_STORAGE_CONF=" + filepath.Join(p.dir, "storage.conf")}
	t.Cleanup(func() {
		killProcessesMentioning(t, p.dir)
		// The pause process podman leaves to keep its namespace: its
		// pid is in the tmpdir; it is this test's, not a leftover.
		if data, err := os.ReadFile(filepath.Join(p.dir, "tmp", "pause.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		unmountUnder(t, p.dir)
	})
	t.Cleanup(func() {
		if r := p.podman(t, "rm", "-af", "-t", "0"); r.Code != 0 {
			t.Errorf("podman rm -af: %s", r)
		}
		// Storage made in the user's namespace holds files of its
		// subordinate ids, which root's RemoveAll removes all the same.
	})
	r := p.podman(t, "info", "--format", "{{.Host.Security.Rootless}} {{.Store.GraphRoot}} {{.Host.OCIRuntime.Path}}")
	if want := "true " + filepath.Join(p.dir, "root") + " " + tu.RuntimePath(); r.Code != 0 || strings.TrimSpace(r.Stdout) != want {
		t.Fatalf("podman info: want %q: %s", want, r)
	}
	return p
}

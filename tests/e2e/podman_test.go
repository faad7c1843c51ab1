//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-runtime/strata/tests/podmanconf"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

type podmanEnv struct {
	dir, runtimeRoot, cgroupParent string
	env                            []string
}

// args are podman's global flags: private root, runroot and tmpdir, the
// runtime under test, cgroupfs, file events. podman gives the runtime no
// --root, so it keeps its state in its default root (/run/strata, /run/runc).
// (--runtime-flag root=DIR would reach the runtime from this process, but not
// from the `podman container cleanup` conmon runs when a container exits,
// which then deletes nothing.)
func (p *podmanEnv) args(args ...string) []string {
	return append([]string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "runroot"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
		"--runtime", tu.RuntimePath(),
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
		"--storage-driver", "overlay",
		"--network-config-dir", filepath.Join(p.dir, "networks"),
		"--volumepath", filepath.Join(p.dir, "volumes"),
	}, args...)
}

func (p *podmanEnv) podman(t *testing.T, args ...string) tu.Result {
	t.Helper()
	return run(t, p.env, "podman", p.args(args...)...)
}

// runArgs start a `podman run` with no network, in the test's cgroup parent.
func (p *podmanEnv) runArgs(extra ...string) []string {
	return append([]string{"run", "--network", "none", "--cgroup-parent", p.cgroupParent}, extra...)
}

// setupPodman makes podman's private configuration. podman has no daemon:
// each command is a process, and conmon watches each container.
func setupPodman(t *testing.T) *podmanEnv {
	t.Helper()
	dir := workDir(t, "podman")
	p := &podmanEnv{dir: dir, runtimeRoot: defaultRuntimeRoot(t),
		cgroupParent: fmt.Sprintf("/strata-e2e-podman-%d", os.Getpid())}
	env, err := podmanconf.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	p.env = env
	// podman load (containers/image) as root keeps a blob-info cache there,
	// whatever --root says.
	watchMachinePaths(t, machinePath{"/var/lib/containers/storage", nil}, machinePath{"/run/containers", []string{"networks"}},
		// strata keeps compiled seccomp filters in its root.
		machinePath{p.runtimeRoot, []string{".cache~", ".cache~/seccomp", ".cache~/seccomp/*.bpf"}}, machinePath{"/run/libpod", nil}, machinePath{"/dev/shm/libpod_lock", nil}, machinePath{"/etc/containers/networks", nil},
		machinePath{"/var/lib/containers", []string{"cache", "cache/blob-info-cache-v1.boltdb"}})
	t.Cleanup(func() {
		killProcessesMentioning(t, dir)
		unmountUnder(t, dir)
		// podman makes <parent>/conmon for every conmon and never removes it.
		var left []string
		for _, d := range cgroupsBelow(p.cgroupParent) {
			if filepath.Base(d) != "conmon" {
				left = append(left, d)
			}
		}
		if len(left) > 0 {
			t.Errorf("cgroups left behind: %v", left)
		}
		removeCgroupTree(t, p.cgroupParent)
	})
	t.Cleanup(func() {
		if r := p.podman(t, "rm", "-af", "-t", "0"); r.Code != 0 {
			t.Errorf("podman rm -af: %s", r)
		}
	})
	r := p.podman(t, "info", "--format", "{{.Store.GraphRoot}} {{.Host.OCIRuntime.Path}}")
	if r.Code != 0 {
		t.Fatalf("podman cannot start: %s", r)
	}
	if want := filepath.Join(dir, "root") + " " + tu.RuntimePath(); strings.TrimSpace(r.Stdout) != want {
		t.Fatalf("podman info: want %q, got %q", want, r.Stdout)
	}
	return p
}

// TestPodman drives podman 4.3 (with conmon) with the runtime under test as
// its OCI runtime (--runtime).
func TestPodman(t *testing.T) {
	p := setupPodman(t)
	out := must(t, p.podman(t, "load", "-i", dockerArchive(t, p.dir)))
	if !strings.Contains(out, "Loaded image: localhost/"+imageName) && !strings.Contains(out, "Loaded image: docker.io/library/"+imageName) {
		t.Fatalf("podman load: want \"Loaded image: ...%s\", got %q", imageName, out)
	}
	// The runtime's default root may hold other users' containers: only
	// those that appeared during the test are leftovers.
	before := runtimeList(t, p.runtimeRoot)
	noState := func(t *testing.T) {
		t.Helper()
		for _, id := range runtimeList(t, p.runtimeRoot) {
			if !slices.Contains(before, id) {
				t.Errorf("container %s left in the runtime's root %s", id, p.runtimeRoot)
			}
		}
	}

	t.Run("run-rm", func(t *testing.T) {
		r := p.podman(t, p.runArgs("--rm", imageName, "sh", "-c", "echo hello from pid $$; id -u; ls /sys/class/net")...)
		if r.Code != 0 || r.Stdout != "hello from pid 1\n0\nlo\n" {
			t.Fatalf("want \"hello from pid 1\\n0\\nlo\\n\" (only lo: --network none): %s", r)
		}
		noState(t)
	})

	t.Run("exec", func(t *testing.T) {
		name := tu.UniqueID(t)
		id := strings.TrimSpace(must(t, p.podman(t, p.runArgs("-d", "--name", name, imageName, "sleep", "1000")...)))
		// conmon called the runtime under test: it knows the container.
		if st, errText := runtimeState(t, p.runtimeRoot, id); st != "running" {
			t.Fatalf("%s --root %s state %s: status %q, want running (%s)", tu.RuntimePath(), p.runtimeRoot, id, st, errText)
		}
		if r := p.podman(t, "exec", name, "sh", "-c", "echo exec; cat /proc/1/cmdline | tr '\\0' ' '"); r.Code != 0 || r.Stdout != "exec\nsleep 1000 " {
			t.Errorf("podman exec: want \"exec\\nsleep 1000 \": %s", r)
		}
		if r := p.podman(t, "exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000", name, "sh", "-c", "echo $FOO $(pwd) $(id -u)"); r.Code != 0 || r.Stdout != "bar /tmp 1000\n" {
			t.Errorf("podman exec -e -w -u: want \"bar /tmp 1000\": %s", r)
		}
		if r := p.podman(t, "exec", name, "sh", "-c", "exit 3"); r.Code != 3 {
			t.Errorf("podman exec of `exit 3`: want exit status 3: %s", r)
		}
		must(t, p.podman(t, "rm", "-f", "-t", "0", name))
		noState(t)
	})

	t.Run("tty", func(t *testing.T) {
		s := startPty(t, p.env, "podman", p.args(p.runArgs("-it", "--rm", imageName, "sh")...)...)
		s.checkShell(t, "podman run -it")
		noState(t)
	})

	// podman's systemd cgroup manager needs systemd as the init (the
	// guests of tests/vm); on a host without it podman refuses it, so
	// there is nothing to run.
	if systemdInit() {
		t.Run("systemd-cgroup", func(t *testing.T) {
			testPodmanSystemd(t, p)
			noState(t)
		})
	}
}

// systemdInit says whether systemd is this host's init, as sd_booted(3).
func systemdInit() bool {
	st, err := os.Lstat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// testPodmanSystemd runs a container with `--cgroup-manager systemd`:
// conmon passes the runtime --systemd-cgroup and the cgroupsPath
// system.slice:libpod:<id> (system.slice, which exists already, rather
// than podman's machine.slice, which would outlive the test), and the
// container runs in the scope libpod-<id>.scope, gone after `podman rm`.
func testPodmanSystemd(t *testing.T, p *podmanEnv) {
	sd := func(args ...string) []string { return append([]string{"--cgroup-manager", "systemd"}, args...) }
	name := tu.UniqueID(t)
	id := strings.TrimSpace(must(t, p.podman(t, sd("run", "-d", "--network", "none", "--cgroup-parent", "system.slice", "--name", name, imageName, "sleep", "1000")...)))
	unit := "libpod-" + id + ".scope"
	t.Cleanup(func() { exec.Command("systemctl", "stop", unit).Run() })
	if st, errText := runtimeState(t, p.runtimeRoot, id); st != "running" {
		t.Fatalf("%s --root %s state %s: status %q, want running (%s)", tu.RuntimePath(), p.runtimeRoot, id, st, errText)
	}
	// systemctl prints the properties in its own order.
	show := func() map[string]string {
		out, err := exec.Command("systemctl", "show", "--property=LoadState,ActiveState,ControlGroup", unit).CombinedOutput()
		if err != nil {
			t.Fatalf("systemctl show %s: %v: %s", unit, err, out)
		}
		props := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				props[k] = v
			}
		}
		return props
	}
	want := map[string]string{"LoadState": "loaded", "ActiveState": "active", "ControlGroup": "/system.slice/" + unit}
	if got := show(); !maps.Equal(got, want) {
		t.Errorf("while it runs: systemctl show %s: %v, want %v", unit, got, want)
	}
	pid := strings.TrimSpace(must(t, p.podman(t, sd("inspect", "--format", "{{.State.Pid}}", name)...)))
	if b, err := os.ReadFile("/proc/" + pid + "/cgroup"); err != nil || string(b) != "0::/system.slice/"+unit+"\n" {
		t.Errorf("container init %s: /proc/PID/cgroup %q (%v), want 0::/system.slice/%s", pid, b, err, unit)
	}
	must(t, p.podman(t, sd("rm", "-f", "-t", "0", name)...))
	if got := show(); got["LoadState"] != "not-found" || got["ActiveState"] != "inactive" {
		t.Errorf("after podman rm: systemctl show %s: %v, want it not found and inactive", unit, got)
	}
}

// defaultRuntimeRoot is the state root the runtime under test uses when given
// no --root.
func defaultRuntimeRoot(t *testing.T) string {
	switch name := filepath.Base(tu.RuntimePath()); {
	case tu.IsStrata():
		return "/run/strata"
	case name == "runc" || name == "crun":
		return "/run/" + name
	default:
		t.Fatalf("the default --root of %s is unknown to this test", tu.RuntimePath())
		return ""
	}
}

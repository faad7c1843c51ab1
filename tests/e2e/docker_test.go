//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// dockerClient is the client that matches dockerd 20.10: a newer one may
// come first on PATH (see /work/shared/HARNESS-NOTES.md).
const dockerClient = "/usr/bin/docker"

type dockerEnv struct {
	dir, host, execRoot, runtime, cgroupParent string
}

func (d *dockerEnv) docker(t *testing.T, args ...string) tu.Result {
	t.Helper()
	return run(t, nil, dockerClient, append([]string{"-H", d.host}, args...)...)
}

// dockerArgs are the client's global flags, for commands run on a pty.
func (d *dockerEnv) dockerArgs(args ...string) []string {
	return append([]string{"-H", d.host}, args...)
}

// stateRoot is where dockerd's shim has an added runtime keep its state:
// <exec-root>/runtime-runc, plus the containerd namespace "moby".
func (d *dockerEnv) stateRoot() string { return filepath.Join(d.execRoot, "runtime-runc", "moby") }

// runArgs start a `docker run` with the runtime under test, no network.
func (d *dockerEnv) runArgs(extra ...string) []string {
	return append([]string{"run", "--runtime", d.runtime, "--network", "none"}, extra...)
}

func startDockerd(t *testing.T) *dockerEnv {
	t.Helper()
	dir := workDir(t, "docker")
	d := &dockerEnv{
		dir:          dir,
		host:         "unix://" + filepath.Join(dir, "docker.sock"),
		execRoot:     filepath.Join(dir, "exec"),
		runtime:      "reference",
		cgroupParent: fmt.Sprintf("/strata-e2e-docker-%d", os.Getpid()),
	}
	if tu.IsStrata() {
		d.runtime = "strata"
	}
	cfg := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "dockerd.log")
	dumpOnFailure(t, logPath)
	watchMachinePaths(t, machinePath{"/var/lib/docker", nil}, machinePath{"/run/docker", []string{"plugins"}},
		machinePath{"/run/docker.sock", nil}, machinePath{"/var/lib/containerd", nil},
		machinePath{"/run/containerd/containerd.sock", nil}, machinePath{"/run/containerd", []string{"s"}})
	shimsBefore := dirEntries(shimSocketDir)
	t.Cleanup(func() {
		killProcessesMentioning(t, dir)
		for name := range dirEntries(shimSocketDir) {
			if !shimsBefore[name] {
				t.Errorf("shim socket left behind: %s", filepath.Join(shimSocketDir, name))
				os.Remove(filepath.Join(shimSocketDir, name))
			}
		}
		unmountUnder(t, dir)
		if left := cgroupsBelow(d.cgroupParent); len(left) > 0 {
			t.Errorf("cgroups left behind: %v", left)
		}
		removeCgroupTree(t, d.cgroupParent)
	})
	dd := startDaemon(t, logPath, nil, func() error {
		r := run(t, nil, dockerClient, "-H", d.host, "version")
		if r.Code != 0 {
			return fmt.Errorf("%s", r.Stderr)
		}
		return nil
	}, "dockerd",
		"--config-file", cfg,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", d.execRoot,
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-H", d.host,
		"--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none",
		"--storage-driver", "overlay2",
		"--cgroup-parent", d.cgroupParent,
		"--add-runtime", d.runtime+"="+tu.RuntimePath(),
		"--debug")
	t.Cleanup(func() {
		if ids := strings.Fields(d.docker(t, "ps", "-aq").Stdout); len(ids) > 0 {
			d.docker(t, append([]string{"rm", "-f"}, ids...)...)
		}
		dd.stop(t)
	})
	return d
}

// TestDocker drives dockerd 20.10 with the runtime under test added as a
// runtime (--add-runtime) and chosen per container (--runtime).
func TestDocker(t *testing.T) {
	d := startDockerd(t)
	out := must(t, d.docker(t, "load", "-i", dockerArchive(t, d.dir)))
	if !strings.Contains(out, "Loaded image: "+imageName) {
		t.Fatalf("docker load: want \"Loaded image: %s\", got %q", imageName, out)
	}
	noState := func(t *testing.T) {
		t.Helper()
		if ids := runtimeList(t, d.stateRoot()); len(ids) > 0 {
			t.Errorf("containers left in the runtime's root %s: %v", d.stateRoot(), ids)
		}
	}

	t.Run("run-rm", func(t *testing.T) {
		r := d.docker(t, d.runArgs("--rm", imageName, "sh", "-c", "echo hello from pid $$; id -u; ls /sys/class/net")...)
		if r.Code != 0 || r.Stdout != "hello from pid 1\n0\nlo\n" {
			t.Fatalf("want \"hello from pid 1\\n0\\nlo\\n\" (only lo: --network none): %s", r)
		}
		noState(t)
	})

	t.Run("exec", func(t *testing.T) {
		name := tu.UniqueID(t)
		id := strings.TrimSpace(must(t, d.docker(t, d.runArgs("-d", "--name", name, imageName, "sleep", "1000")...)))
		// dockerd's shim called the runtime under test: it knows the container.
		if st, errText := runtimeState(t, d.stateRoot(), id); st != "running" {
			t.Fatalf("%s --root %s state %s: status %q, want running (%s)", tu.RuntimePath(), d.stateRoot(), id, st, errText)
		}
		if r := d.docker(t, "exec", name, "sh", "-c", "echo exec; cat /proc/1/cmdline | tr '\\0' ' '"); r.Code != 0 || r.Stdout != "exec\nsleep 1000 " {
			t.Errorf("docker exec: want \"exec\\nsleep 1000 \": %s", r)
		}
		if r := d.docker(t, "exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000", name, "sh", "-c", "echo $FOO $(pwd) $(id -u)"); r.Code != 0 || r.Stdout != "bar /tmp 1000\n" {
			t.Errorf("docker exec -e -w -u: want \"bar /tmp 1000\": %s", r)
		}
		if r := d.docker(t, "exec", name, "sh", "-c", "exit 3"); r.Code != 3 {
			t.Errorf("docker exec of `exit 3`: want exit status 3: %s", r)
		}
		must(t, d.docker(t, "rm", "-f", name))
		noState(t)
	})

	t.Run("stop", func(t *testing.T) {
		name := tu.UniqueID(t)
		must(t, d.docker(t, d.runArgs("-d", "--name", name, imageName, "sh", "-c",
			"trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done")...))
		for i := 0; !strings.Contains(d.docker(t, "logs", name).Stdout, "ready"); i++ {
			if i == 100 {
				t.Fatalf("container never printed ready: %s", d.docker(t, "logs", name))
			}
			time.Sleep(100 * time.Millisecond)
		}
		start := time.Now()
		must(t, d.docker(t, "stop", "-t", "30", name))
		// Had TERM not reached the trap, docker would have waited 30 s and
		// killed it (exit status 137).
		if el := time.Since(start); el > 15*time.Second {
			t.Errorf("docker stop took %v: SIGTERM did not stop the container", el)
		}
		if code := strings.TrimSpace(must(t, d.docker(t, "inspect", "-f", "{{.State.ExitCode}}", name))); code != "0" {
			t.Errorf("exit code after docker stop: %s, want 0 (the trap's)", code)
		}
		if logs := d.docker(t, "logs", name).Stdout; !strings.Contains(logs, "got TERM") {
			t.Errorf("container logs lack the trap's \"got TERM\": %q", logs)
		}
		must(t, d.docker(t, "rm", name))
		noState(t)
	})

	t.Run("tty", func(t *testing.T) {
		s := startPty(t, nil, dockerClient, d.dockerArgs(d.runArgs("-it", "--rm", imageName, "sh")...)...)
		s.checkShell(t, "docker run -it")
		noState(t)
	})

	t.Run("memory", func(t *testing.T) {
		r := d.docker(t, d.runArgs("--rm", "--memory", "64m", imageName, "sh", "-c", memoryLimitScript)...)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != fmt.Sprint(64<<20) {
			t.Fatalf("want the container to see memory.limit_in_bytes %d: %s", 64<<20, r)
		}
		noState(t)
	})

	// dockerd turns a start error into the shell's exit statuses by the
	// error's wording (translateContainerdStartErr in docker 20.10): 127 when
	// it names the command and says "executable file not found" or "no such
	// file or directory", 126 when it says "permission denied", 125 otherwise.
	// Scripts rely on them, so the runtime's messages must keep those words.
	for _, tc := range []struct {
		name, cmd string
		code      int
		runcMsg   string
	}{
		{"not-found-path", "/no/such/binary", 127, `exec: "/no/such/binary": stat /no/such/binary: no such file or directory`},
		{"not-found-in-PATH", "nosuchcommand", 127, `exec: "nosuchcommand": executable file not found in $PATH`},
		{"not-executable", "/etc/passwd", 126, `exec: "/etc/passwd": permission denied`},
	} {
		t.Run("failing-container-"+tc.name, func(t *testing.T) {
			r := d.docker(t, d.runArgs("--rm", imageName, tc.cmd)...)
			if r.Code != tc.code {
				t.Errorf("docker run of %s: want exit status %d: %s", tc.cmd, tc.code, r)
			}
			// The error docker reports is the runtime's own message, which
			// the shim read from the runtime's json log.
			want := tc.runcMsg
			if tu.IsStrata() {
				want = "create container "
			}
			if !strings.Contains(r.Stderr, "OCI runtime create failed: ") || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, tc.cmd) {
				t.Errorf("docker's error does not carry the runtime's message %q: %s", want, r)
			}
			noState(t)
		})
	}
}

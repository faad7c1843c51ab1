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

// shimSocketDir is where containerd 1.6's shims put their sockets, whatever
// the daemon's root (see /work/shared/HARNESS-NOTES.md).
const shimSocketDir = "/run/containerd/s"

// ctrEnv is one private containerd and the ctr flags that reach it.
type ctrEnv struct {
	dir, sock, ns, runcRoot, cgroupParent string
}

// stateRoot is the --root the shim hands the runtime: its runc root plus the
// containerd namespace.
func (c *ctrEnv) stateRoot() string { return filepath.Join(c.runcRoot, c.ns) }

// ctr runs ctr against the private daemon.
func (c *ctrEnv) ctr(t *testing.T, args ...string) tu.Result {
	t.Helper()
	return run(t, nil, "ctr", append([]string{"--address", c.sock, "--namespace", c.ns}, args...)...)
}

// runFlags are the `ctr run` flags that make the runc shim call the runtime
// under test with a state root of the test's, and put the container in a
// cgroup below the test's parent.
func (c *ctrEnv) runFlags(id string) []string {
	return []string{"--runc-binary", tu.RuntimePath(), "--runc-root", c.runcRoot, "--cgroup", c.cgroupParent + "/" + id,
		"--fifo-dir", filepath.Join(c.dir, "fifo")}
}

func startContainerd(t *testing.T) *ctrEnv {
	t.Helper()
	dir := workDir(t, "ctr")
	c := &ctrEnv{
		dir:          dir,
		sock:         filepath.Join(dir, "containerd.sock"),
		ns:           fmt.Sprintf("strata-e2e-%d", os.Getpid()),
		runcRoot:     filepath.Join(dir, "runc-root"),
		cgroupParent: fmt.Sprintf("/strata-e2e-ctr-%d", os.Getpid()),
	}
	// The CRI plugin is off: it would want CNI and its own directories.
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = ""
  level = "debug"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "containerd.log")
	dumpOnFailure(t, logPath)
	watchMachinePaths(t, machinePath{"/var/lib/containerd", nil}, machinePath{"/opt/containerd", nil},
		machinePath{"/run/containerd/containerd.sock", nil}, machinePath{"/run/containerd/runc", nil},
		machinePath{"/run/containerd/fifo", nil},
		machinePath{"/run/containerd", []string{"s"}})
	shimsBefore := dirEntries(shimSocketDir)
	// Cleanups run last-registered first: this one runs after the daemon's
	// stop below, and the work directory's removal (registered by workDir)
	// after it.
	t.Cleanup(func() {
		killProcessesMentioning(t, c.sock)
		for name := range dirEntries(shimSocketDir) {
			if !shimsBefore[name] {
				t.Errorf("shim socket left behind: %s", filepath.Join(shimSocketDir, name))
				os.Remove(filepath.Join(shimSocketDir, name))
			}
		}
		unmountUnder(t, dir)
		if left := cgroupsBelow(c.cgroupParent); len(left) > 0 {
			t.Errorf("cgroups left behind: %v", left)
		}
		removeCgroupTree(t, c.cgroupParent)
	})
	d := startDaemon(t, logPath, nil, func() error {
		r := run(t, nil, "ctr", "--address", c.sock, "version")
		if r.Code != 0 {
			return fmt.Errorf("%s", r.Stderr)
		}
		return nil
	}, "containerd", "--config", cfgPath)
	t.Cleanup(func() {
		// Whatever a failed test left: tasks killed, containers removed.
		for _, id := range strings.Fields(c.ctr(t, "containers", "list", "-q").Stdout) {
			c.ctr(t, "task", "kill", "-s", "SIGKILL", id)
			c.ctr(t, "task", "delete", "-f", id)
			c.ctr(t, "containers", "delete", id)
		}
		d.stop(t)
	})
	return c
}

// TestContainerd drives containerd's runc shim (io.containerd.runc.v2) with
// the runtime under test as its runc binary.
func TestContainerd(t *testing.T) {
	c := startContainerd(t)
	archive := ociArchive(t, c.dir)
	out := must(t, c.ctr(t, "images", "import", archive))
	ref := "docker.io/library/" + imageName
	if !strings.Contains(c.ctr(t, "images", "list", "-q").Stdout, ref) {
		t.Fatalf("ctr images import did not make %s: %s\nimages: %s", ref, out, c.ctr(t, "images", "list").Stdout)
	}

	// Each step checks that the runtime's state root is empty once the
	// container is gone: nothing left behind in --root.
	noState := func(t *testing.T) {
		t.Helper()
		if ids := runtimeList(t, c.stateRoot()); len(ids) > 0 {
			t.Errorf("containers left in the runtime's root %s: %v", c.stateRoot(), ids)
		}
	}

	t.Run("run-rm", func(t *testing.T) {
		id := tu.UniqueID(t)
		r := c.ctr(t, append(append([]string{"run", "--rm"}, c.runFlags(id)...), ref, id, "sh", "-c", "echo hello from pid $$; id -u")...)
		if r.Code != 0 || r.Stdout != "hello from pid 1\n0\n" {
			t.Fatalf("want \"hello from pid 1\\n0\\n\": %s", r)
		}
		noState(t)
	})

	t.Run("detach-exec-kill-delete", func(t *testing.T) {
		id := tu.UniqueID(t)
		must(t, c.ctr(t, append(append([]string{"run", "-d"}, c.runFlags(id)...), ref, id, "sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done")...))
		// The shim called the runtime under test with the root given: it
		// knows the container.
		if st, errText := runtimeState(t, c.stateRoot(), id); st != "running" {
			t.Fatalf("%s --root %s state %s: status %q, want running (%s)", tu.RuntimePath(), c.stateRoot(), id, st, errText)
		}
		if r := c.ctr(t, "task", "exec", "--fifo-dir", filepath.Join(c.dir, "fifo"), "--exec-id", "e1", id, "sh", "-c", "echo exec; cat /proc/1/cmdline | tr '\\0' ' '"); r.Code != 0 ||
			!strings.Contains(r.Stdout, "exec\n") || !strings.Contains(r.Stdout, "while true") {
			t.Errorf("task exec: want pid 1's command line: %s", r)
		}
		if r := c.ctr(t, "task", "exec", "--fifo-dir", filepath.Join(c.dir, "fifo"), "--exec-id", "e2", id, "sh", "-c", "exit 3"); r.Code != 3 {
			t.Errorf("task exec of `exit 3`: want exit status 3: %s", r)
		}
		must(t, c.ctr(t, "task", "kill", "-s", "SIGTERM", id))
		status := ""
		for range 100 {
			status = c.ctr(t, "task", "list").Stdout
			if strings.Contains(status, "STOPPED") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(status, "STOPPED") {
			t.Fatalf("task not stopped 10 s after SIGTERM:\n%s", status)
		}
		// The shell's TERM trap ran: SIGTERM reached pid 1 through the runtime.
		if r := c.ctr(t, "task", "delete", id); r.Code != 0 || !strings.Contains(r.Stderr, "exit with non-zero exit code 7") {
			t.Errorf("task delete: want success and the trap's exit code 7: %s", r)
		}
		must(t, c.ctr(t, "containers", "delete", id))
		if st, _ := runtimeState(t, c.stateRoot(), id); st != "" {
			t.Errorf("after task delete the runtime still has %s (%s)", id, st)
		}
		noState(t)
	})

	t.Run("tty", func(t *testing.T) {
		id := tu.UniqueID(t)
		s := startPty(t, nil, "ctr", append(append([]string{"--address", c.sock, "--namespace", c.ns, "run", "--rm", "-t"}, c.runFlags(id)...), ref, id, "sh")...)
		s.checkShell(t, "ctr run -t")
		noState(t)
	})

	t.Run("memory-limit", func(t *testing.T) {
		id := tu.UniqueID(t)
		const limit = 64 << 20
		r := c.ctr(t, append(append([]string{"run", "--rm", "--memory-limit", fmt.Sprint(limit),
			// ctr's default spec mounts no cgroup filesystem.
			"--mount", "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:nodev:noexec"}, c.runFlags(id)...), ref, id,
			"sh", "-c", memoryLimitScript)...)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != fmt.Sprint(limit) {
			t.Fatalf("want the container to see memory.limit_in_bytes %d: %s", limit, r)
		}
		noState(t)
	})

	t.Run("failing-container", func(t *testing.T) {
		id := tu.UniqueID(t)
		r := c.ctr(t, append(append([]string{"run", "--rm"}, c.runFlags(id)...), ref, id, "/no/such/binary")...)
		if r.Code == 0 {
			t.Fatalf("running a nonexistent binary succeeded: %s", r)
		}
		// The shim reads the runtime's json log (--log FILE --log-format
		// json) and puts its message in the error containerd reports.
		want := `exec: "/no/such/binary": stat /no/such/binary: no such file or directory` // runc's wording
		if tu.IsStrata() {
			want = `process.args[0] "/no/such/binary": stat /no/such/binary: no such file or directory`
		}
		if !strings.Contains(r.Stderr, "/no/such/binary") || !strings.Contains(r.Stderr, want) {
			t.Errorf("containerd's error does not carry the runtime's message (want %q and the path): %s", want, r)
		}
		c.ctr(t, "containers", "delete", id)
		noState(t)
	})
}

// memoryLimitScript prints the memory limit the container sees, or on
// failure what its /sys/fs/cgroup holds.
const memoryLimitScript = `cat /sys/fs/cgroup/memory/memory.limit_in_bytes || { ls -l /sys/fs/cgroup; grep cgroup /proc/self/mountinfo; exit 1; }`

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestKillSignalSpellings(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{"USR1", "SIGUSR1", "10"} {
		t.Run(sig, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			// PID 1 of a PID namespace only gets signals it handles: the trap
			// is what makes USR1 arrive, and it reports through the host dir.
			c := tu.NewContainer(t, with(bindMount(out, "/out"),
				sh(`trap "echo got USR1 > /out/f; exit 0" USR1; echo ready > /out/ready; while :; do sleep 0.1; done`)))
			tu.Must(t, c.Run("--detach"))
			waitFile(t, filepath.Join(out, "ready"))
			tu.Must(t, c.Runtime("kill", c.ID, sig))
			c.WaitStatus("stopped", 10*time.Second)
			if data, _ := os.ReadFile(filepath.Join(out, "f")); string(data) != "got USR1\n" {
				t.Errorf("kill %s: the container recorded %q", sig, data)
			}
			tu.Must(t, c.Runtime("delete", c.ID))
		})
	}
}

func TestKillAll(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	// Without a PID namespace, killing the init leaves its child running:
	// only --all (every process in the container's cgroup) reaches it.
	c := tu.NewContainer(t, with(sh("sleep 1000 & echo $! > /out/child; wait"), withoutNamespace(specs.PIDNamespace), bindMount(out, "/out")))
	tu.Must(t, c.Run("--detach"))
	data := waitFile(t, filepath.Join(out, "child"))
	child, err := strconv.Atoi(strings.TrimSpace(data))
	if err != nil {
		t.Fatalf("child pid %q: %v", data, err)
	}
	tu.Must(t, c.Runtime("kill", "--all", c.ID, "KILL"))
	c.WaitStatus("stopped", 10*time.Second)
	pidGone(t, child)
	tu.Must(t, c.Runtime("delete", c.ID))
}

func TestSpec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tu.Must(t, tu.Exec(t, tu.Command(filepath.Join(dir, "root"), "spec", "spec", "--bundle", dir)))
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("config.json from spec: %v", err)
	}
	if !strings.HasPrefix(s.Version, "1.") || s.Root == nil || s.Root.Path != "rootfs" || s.Process == nil || len(s.Process.Args) == 0 || s.Linux == nil {
		t.Errorf("spec wrote %s", data)
	}
}

func TestFeaturesAndVersion(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	r := tu.Must(t, tu.Exec(t, tu.Command(root, "features", "features")))
	var f features.Features
	if err := json.Unmarshal([]byte(r.Stdout), &f); err != nil {
		t.Fatalf("features: %v\n%s", err, r.Stdout)
	}
	if !strings.HasPrefix(f.OCIVersionMin, "1.") || !strings.HasPrefix(f.OCIVersionMax, "1.") || len(f.Hooks) == 0 || len(f.MountOptions) == 0 {
		t.Errorf("features: %s", r.Stdout)
	}
	if f.Linux == nil || len(f.Linux.Namespaces) == 0 || len(f.Linux.Capabilities) == 0 {
		t.Errorf("features lacks linux namespaces or capabilities: %s", r.Stdout)
	}
	v := tu.Must(t, tu.Exec(t, tu.Command(root, "version", "--version")))
	if !strings.Contains(v.Stdout, "spec: 1.") {
		t.Errorf("--version: %q", v.Stdout)
	}
}

// The runtime re-executes itself (or helpers) while setting a container up:
// that must work when it was started by a relative path, as `./strata` is.
func TestRelativeBinaryPath(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("echo hi"))
	cmd := tu.Command(c.Root, c.ID, "run", "--bundle", c.Bundle, c.ID)
	cmd.Dir = filepath.Dir(tu.RuntimePath())
	cmd.Path = "./" + filepath.Base(tu.RuntimePath())
	cmd.Args[0] = cmd.Path
	if r := tu.Exec(t, cmd); r.Code != 0 || r.Stdout != "hi\n" {
		t.Errorf("run by a relative path: %s", r)
	}
}

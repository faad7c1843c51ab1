package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// hookRecorder returns a hook that appends "<name> <mount namespace> <1 if the
// container's state on stdin names id>" to log. path is the busybox to run:
// resolved in the runtime's namespace for every hook but startContainer.
func hookRecorder(path, name, log, id string) specs.Hook {
	script := fmt.Sprintf(`echo "%s $(readlink /proc/self/ns/mnt) $(grep -c %s)" >> %s`, name, id, log)
	return specs.Hook{Path: path, Args: []string{"busybox", "sh", "-c", script}, Env: []string{"PATH=/bin:/usr/bin"}}
}

func TestHooksOrderAndNamespaces(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	hostLog := filepath.Join(logDir, "log")
	bb := tu.Busybox(t)
	c := tu.NewContainer(t, with(sh("readlink /proc/self/ns/mnt"), bindMount(logDir, "/hooklog")))
	id := c.ID
	c.Spec.Hooks = &specs.Hooks{
		Prestart:      []specs.Hook{hookRecorder(bb, "prestart", hostLog, id)},
		CreateRuntime: []specs.Hook{hookRecorder(bb, "createRuntime", hostLog, id)},
		// Runs in the container's namespaces but before pivot_root: its
		// path and the log's are still the host's.
		CreateContainer: []specs.Hook{hookRecorder(bb, "createContainer", hostLog, id)},
		// Runs after pivot_root: the path and the log are the container's.
		StartContainer: []specs.Hook{hookRecorder("/bin/busybox", "startContainer", "/hooklog/log", id)},
		Poststart:      []specs.Hook{hookRecorder(bb, "poststart", hostLog, id)},
		Poststop:       []specs.Hook{hookRecorder(bb, "poststop", hostLog, id)},
	}
	c.WriteSpec()
	containerNS := strings.TrimSpace(c.MustRun())
	hostNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	if containerNS == hostNS || containerNS == "" {
		t.Fatalf("container mount namespace %q (host %q)", containerNS, hostNS)
	}
	want := strings.Join([]string{
		"prestart " + hostNS + " 1",
		"createRuntime " + hostNS + " 1",
		"createContainer " + containerNS + " 1",
		"startContainer " + containerNS + " 1",
		"poststart " + hostNS + " 1",
		"poststop " + hostNS + " 1",
	}, "\n") + "\n"
	got, _ := os.ReadFile(hostLog)
	if string(got) != want {
		t.Errorf("hooks ran as (name, mount namespace, state names the ID):\n%s\nwant:\n%s", got, want)
	}
}

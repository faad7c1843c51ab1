//go:build e2e && checkpoint

package e2e

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestPodmanCheckpoint drives `podman container checkpoint` and `restore`
// with the runtime under test: podman calls its checkpoint and restore
// (the restore through conmon, with conmon's pipes as the container's
// stdio), and the container's counter goes on after the restore. Behind the
// tags e2e and checkpoint: it needs a kernel Debian's CRIU can dump on (the
// kernel 6.1 guest of tests/vm, suite checkpoint).
func TestPodmanCheckpoint(t *testing.T) {
	p := setupPodman(t)
	must(t, p.podman(t, "load", "-i", dockerArchive(t, p.dir)))
	before := runtimeList(t, p.runtimeRoot)
	name := tu.UniqueID(t)
	script := `i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; echo $i; sleep 0.1; done`
	must(t, p.podman(t, p.runArgs("-d", "--name", name, imageName, "sh", "-c", script)...))
	read := func() int {
		t.Helper()
		r := p.podman(t, "exec", name, "cat", "/count")
		n, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
		if r.Code != 0 || err != nil {
			return -1
		}
		return n
	}
	waitAbove := func(min int) int {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			if n := read(); n > min {
				return n
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("the container's count never went above %d", min)
		return 0
	}
	n := waitAbove(2)

	if r := p.podman(t, "container", "checkpoint", name); r.Code != 0 {
		t.Fatalf("podman container checkpoint: %s", r)
	}
	if st := strings.TrimSpace(must(t, p.podman(t, "inspect", "--format", "{{.State.Status}}", name))); st != "exited" {
		t.Errorf("after checkpoint podman says %q, want exited", st)
	}
	for _, id := range runtimeList(t, p.runtimeRoot) {
		if !slices.Contains(before, id) {
			t.Errorf("checkpoint left container %s in the runtime's root", id)
		}
	}
	if r := p.podman(t, "container", "restore", name); r.Code != 0 {
		t.Fatalf("podman container restore: %s", r)
	}
	id := strings.TrimSpace(must(t, p.podman(t, "inspect", "--format", "{{.Id}}", name)))
	if st, errText := runtimeState(t, p.runtimeRoot, id); st != "running" {
		t.Fatalf("restored container: the runtime says %q, want running (%s)", st, errText)
	}
	// Counted on from the checkpoint (at least n), not from 1.
	m := read()
	if m < n {
		t.Errorf("restored container counts from %d; it had counted to %d before the checkpoint", m, n)
	}
	// m+2 in /count: m+1 was printed (echo comes before the next count).
	waitAbove(m + 1)
	// conmon's new pipes carry the restored process's output.
	logs := must(t, p.podman(t, "logs", name))
	if !strings.Contains(logs, "\n"+strconv.Itoa(m+1)+"\n") {
		t.Errorf("podman logs lack the count after the restore (%d): %q", m+1, logs)
	}
	must(t, p.podman(t, "rm", "-f", "-t", "0", name))
	for _, id := range runtimeList(t, p.runtimeRoot) {
		if !slices.Contains(before, id) {
			t.Errorf("container %s left in the runtime's root", id)
		}
	}
}

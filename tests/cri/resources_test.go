//go:build cri

package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cgroupFile reads a file of the container's cgroup in one v1 hierarchy:
// CRI puts it at <pod cgroup parent>/<container ID>.
func (p *pod) cgroupFile(t *testing.T, ctrl, id, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, p.cgroup, id, file))
	if err != nil {
		t.Fatalf("the container's cgroup: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// updateResources: UpdateContainerResources reaches the runtime's update
// (the shim runs `update --resources -`): the cgroup's limits change, and
// the container sees them in its own cgroup mount.
func (p *pod) updateResources(t *testing.T, id string) {
	const memory, quota = 96 << 20, 50000
	must(t, p.e.crictl(t, "update", "--memory", fmt.Sprint(memory), "--cpu-period", "100000", "--cpu-quota", fmt.Sprint(quota), id))
	if got := p.cgroupFile(t, "memory", id, "memory.limit_in_bytes"); got != fmt.Sprint(memory) {
		t.Errorf("memory.limit_in_bytes after update: %s, want %d", got, memory)
	}
	if got := p.cgroupFile(t, "cpu", id, "cpu.cfs_quota_us"); got != fmt.Sprint(quota) {
		t.Errorf("cpu.cfs_quota_us after update: %s, want %d", got, quota)
	}
	if got := p.execOut(t, id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); got != fmt.Sprint(memory) {
		t.Errorf("the container sees memory.limit_in_bytes %s, want %d", got, memory)
	}
}

// oomKilled: a container that outgrows its memory limit is killed by the
// kernel, and CRI reports it as OOMKilled (the shim heard the cgroup's OOM
// event). It waits for a file before it grows, so the runtime's list can be
// checked while it runs.
func (p *pod) oomKilled(t *testing.T) {
	id := p.container(t, "oom", []string{"sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; x=x; while :; do x=$x$x; done"}, 32<<20)
	p.runtimeHas(t, id)
	p.execOut(t, id, "touch", "/tmp/go")
	var st struct {
		Status struct {
			State    string `json:"state"`
			Reason   string `json:"reason"`
			ExitCode int    `json:"exitCode"`
		} `json:"status"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.e.inspect(t, "inspect", id, &st)
		if st.Status.State == "CONTAINER_EXITED" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Status.State != "CONTAINER_EXITED" || st.Status.Reason != "OOMKilled" || st.Status.ExitCode != 137 {
		t.Errorf("container over its 32 MiB limit: state %s, reason %q, exit code %d; want CONTAINER_EXITED, OOMKilled, 137",
			st.Status.State, st.Status.Reason, st.Status.ExitCode)
	}
	must(t, p.e.crictl(t, "rm", id))
}

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

// cgroupFile reads a file of the container's cgroup (see containerCgroup):
// in the hierarchy of controller ctrl on cgroup v1, in the unified one on v2.
func (p *pod) cgroupFile(t *testing.T, ctrl, id, file string) string {
	t.Helper()
	dir := filepath.Join("/sys/fs/cgroup", ctrl)
	if cgroupV2() {
		dir = "/sys/fs/cgroup"
	}
	data, err := os.ReadFile(filepath.Join(dir, p.containerCgroup(id), file))
	if err != nil {
		t.Fatalf("the container's cgroup: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// updateResources: UpdateContainerResources reaches the runtime's update
// (the shim runs `update --resources -`): the cgroup's limits change (v1's
// memory.limit_in_bytes and cpu.cfs_quota_us, v2's memory.max and cpu.max;
// with the systemd driver the scope's MemoryMax too), and the container
// sees them in its own cgroup mount.
func (p *pod) updateResources(t *testing.T, id string) {
	const memory, quota = 96 << 20, 50000
	must(t, p.e.crictl(t, "update", "--memory", fmt.Sprint(memory), "--cpu-period", "100000", "--cpu-quota", fmt.Sprint(quota), id))
	memFile, cpuFile, wantCPU, inside := "memory.limit_in_bytes", "cpu.cfs_quota_us", fmt.Sprint(quota), "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	if cgroupV2() {
		memFile, cpuFile, wantCPU, inside = "memory.max", "cpu.max", fmt.Sprintf("%d 100000", quota), "/sys/fs/cgroup/memory.max"
	}
	if got := p.cgroupFile(t, "memory", id, memFile); got != fmt.Sprint(memory) {
		t.Errorf("%s after update: %s, want %d", memFile, got, memory)
	}
	if got := p.cgroupFile(t, "cpu", id, cpuFile); got != wantCPU {
		t.Errorf("%s after update: %s, want %s", cpuFile, got, wantCPU)
	}
	if got := p.execOut(t, id, "cat", inside); got != fmt.Sprint(memory) {
		t.Errorf("the container sees %s %s, want %d", inside, got, memory)
	}
	if systemdDriver() {
		if got := unitProperties(t, scopeName(id), "MemoryMax")["MemoryMax"]; got != fmt.Sprint(memory) {
			t.Errorf("systemctl show %s: MemoryMax=%s after update, want %d (update through systemd)", scopeName(id), got, memory)
		}
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

package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The v2 code paths, run for real on this hybrid host's cgroup2 hierarchy
// (/sys/fs/cgroup/unified, no controllers): the eBPF device filter, the
// freezer, cgroup.kill-free SignalAll, unified writes and the refusals of
// what v2 cannot honour. Memory, cpu, io, pids limits need a v2 host with
// controllers and are not tested here. Needs root.
func v2Cgroup(t *testing.T) (*Manager, string) {
	t.Helper()
	root := "/sys/fs/cgroup/unified"
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		root = "/sys/fs/cgroup"
	}
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("no cgroup2 hierarchy at %s (these tests need one; run as root)", root)
	}
	old := v2Root
	v2Root = root
	t.Cleanup(func() { v2Root = old })
	dir := filepath.Join(root, fmt.Sprintf("strata-unit-%d-%s", os.Getpid(), t.Name()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := Config("unit", &specs.Spec{Linux: &specs.Linux{CgroupsPath: "/unit", Resources: &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}}}, Cgroupfs)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := fs2.NewManager(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{m: m2, cfg: cfg, v2: true, applied: true}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s left behind", dir)
		}
	})
	return m, dir
}

// startIn runs a command directly in the cgroup (clone3 CLONE_INTO_CGROUP).
func startIn(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestV2DeviceFilter(t *testing.T) {
	m, dir := v2Cgroup(t)
	if err := m.Set(m.Resources()); err != nil {
		t.Fatalf("set deny-all + default device rules: %v", err)
	}
	run := func(dev string) (string, error) {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd := exec.Command("sh", "-c", ": > "+dev)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("/dev/null"); err != nil {
		t.Errorf("/dev/null (allowed by default) cannot be opened under the eBPF filter: %v: %s", err, out)
	}
	out, err := run("/dev/kmsg")
	if err == nil || !strings.Contains(out, "not permitted") {
		t.Errorf("/dev/kmsg (denied) opened under the eBPF filter: %v: %s", err, out)
	}
}

func TestV2FreezeSignalUnified(t *testing.T) {
	m, dir := v2Cgroup(t)
	sleeper := startIn(t, dir, "sleep", "1000")
	done := make(chan struct{})
	go func() { sleeper.Wait(); close(done) }()
	pids, err := m.Pids()
	if err != nil || len(pids) != 1 || pids[0] != sleeper.Process.Pid {
		t.Fatalf("pids %v (%v), want [%d]", pids, err, sleeper.Process.Pid)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if !Frozen(map[string]string{"": dir}) {
		t.Error("not frozen after Freeze (cgroup.freeze)")
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if Frozen(m.Paths()) {
		t.Error("still frozen after Thaw")
	}
	// Unified writes reach the file; a controller v2 lacks here is refused.
	r := *m.Resources()
	r.Unified = map[string]string{"cgroup.max.descendants": "3"}
	if err := m.Set(&r); err != nil {
		t.Fatalf("unified cgroup.max.descendants: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.max.descendants")); strings.TrimSpace(string(b)) != "3" {
		t.Errorf("cgroup.max.descendants = %q, want 3", b)
	}
	// SIGKILL from a frozen state still kills (SignalAll thaws).
	m.Freeze()
	if err := m.SignalAll(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sleeper survived SignalAll(SIGKILL) of a frozen cgroup")
	}
}

func TestV2Refusals(t *testing.T) {
	m, _ := v2Cgroup(t)
	avail, _ := os.ReadFile(filepath.Join(v2Root, "cgroup.controllers"))
	cases := map[string]*cg.Resources{
		"linux.resources.memory.swappiness":   {MemorySwappiness: u64(10)},
		"linux.resources.network.classID":     {NetClsClassid: 7},
		"linux.resources.cpu.realtimeRuntime": {CpuRtRuntime: 1000},
		"linux.resources.blockIO.leafWeight":  {BlkioLeafWeight: 100},
	}
	if !strings.Contains(string(avail), "memory") {
		cases["linux.resources.memory"] = &cg.Resources{Memory: 1 << 20}
	}
	for field, r := range cases {
		err := m.Set(r)
		if err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("%s on v2: got %v, want an error naming it", field, err)
		}
	}
}

// memory.disableOOMKiller is accepted and ignored on v2, as runc does:
// never refused as something v2 cannot do.
func TestV2DisableOOMKillerIgnored(t *testing.T) {
	m, dir := v2Cgroup(t)
	avail, _ := os.ReadFile(filepath.Join(v2Root, "cgroup.controllers"))
	err := m.Set(&cg.Resources{OomKillDisable: true})
	if err != nil && strings.Contains(err.Error(), "disableOOMKiller") {
		t.Fatalf("disableOOMKiller on v2: %v, want it ignored", err)
	}
	if strings.Contains(string(avail), "memory") {
		if err != nil {
			t.Fatalf("disableOOMKiller on v2: %v, want it ignored", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "memory.oom.group")); strings.TrimSpace(string(b)) != "0" {
			t.Errorf("memory.oom.group = %q, want 0 (untouched)", b)
		}
	}
}

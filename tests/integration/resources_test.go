package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// End-to-end tests of linux.resources and of update, pause, resume, ps,
// events and kill --all. cgroups_test.go checks the placement itself.

func resources(f func(r *specs.LinuxResources)) func(*specs.Spec) {
	return func(s *specs.Spec) { f(s.Linux.Resources) }
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

// startDetached runs the container in the background and waits for running.
func startDetached(t *testing.T, c *tu.Container) tu.State {
	t.Helper()
	tu.Must(t, c.Run("--detach"))
	return c.WaitStatus("running", 10*time.Second)
}

// readRootfs polls a file the container writes in its rootfs.
func readRootfs(t *testing.T, c *tu.Container, name string, want func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(c.Rootfs(), name))
		s := strings.TrimSpace(string(b))
		if want(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in the container's rootfs: %q after 10s", name, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A process allocating past memory.limit is OOM-killed: run exits 137.
func TestMemoryLimitOOMKill(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("exec tail /dev/zero"), resources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64(32 << 20), Swap: i64(32 << 20)}
	})))
	r := c.Run()
	if r.Code != 137 {
		t.Fatalf("run of a process allocating past its 32 MiB limit: exit %d, want 137 (SIGKILL by the OOM killer)\n%s", r.Code, r)
	}
}

// syncBuffer collects a background command's output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// events reports {"type":"oom"} when the OOM killer acts in the container.
func TestEventsReportsOOM(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("sleep 0.5; tail /dev/zero; sleep 1000"), resources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64(32 << 20), Swap: i64(32 << 20)}
	})))
	tu.Must(t, c.Create())
	var out syncBuffer
	ev := tu.Command(c.Root, c.ID, "events", "--interval", "200ms", c.ID)
	ev.Stdout, ev.Stderr = &out, &out
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ev.Wait() }()
	t.Cleanup(func() {
		ev.Process.Kill()
		<-done
	})
	tu.Must(t, c.Runtime("start", c.ID))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), `"type":"oom"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no oom event within 20s; events printed:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e struct {
			Type string          `json:"type"`
			ID   string          `json:"id"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.ID != c.ID || (e.Type != "oom" && e.Type != "stats") {
			t.Errorf("events line %q: want {\"type\":\"oom\"|\"stats\",\"id\":%q}", line, c.ID)
		}
	}
	// The init survived (tail was the biggest): the container runs on.
	if st := c.State().Status; st != "running" {
		t.Errorf("status after the OOM kill of a child: %q, want running", st)
	}
}

// A fork past pids.limit fails inside the container.
func TestPidsLimit(t *testing.T) {
	t.Parallel()
	// A fork failure ends a busybox shell: the forks run in a subshell.
	// The shell, the subshell and two sleeps fit in 4; the other forks
	// fail. Then, with builtins only (a fork could fail): count the
	// processes, kill the sleeps, print the subshell's errors.
	script := `(for i in 1 2 3 4 5 6 7 8; do sleep 30 & done) 2>/tmp/err; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; kill -9 -1; echo "procs $n"; while read -r l; do echo "$l"; done </tmp/err`
	out := runOutput(t, with(sh(script), resources(func(r *specs.LinuxResources) {
		r.Pids = &specs.LinuxPids{Limit: i64(4)}
	})))
	if !strings.Contains(out, "can't fork") {
		t.Errorf("forks past pids.limit 4 did not fail; output:\n%s", out)
	}
	var n int
	fmt.Sscanf(out, "procs %d", &n)
	if n < 1 || n > 4 {
		t.Errorf("%d processes under pids.limit 4, want 1 to 4; output:\n%s", n, out)
	}
}

// cpuStats is the part of `events --stats` the tests read.
type cpuStats struct {
	Data struct {
		CPU struct {
			Throttling struct {
				Periods          uint64 `json:"periods"`
				ThrottledPeriods uint64 `json:"throttledPeriods"`
				ThrottledTime    uint64 `json:"throttledTime"`
			} `json:"throttling"`
		} `json:"cpu"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
		Memory struct {
			Usage struct {
				Limit uint64 `json:"limit"`
			} `json:"usage"`
		} `json:"memory"`
	} `json:"data"`
	Type string `json:"type"`
}

func stats(t *testing.T, c *tu.Container) cpuStats {
	t.Helper()
	r := tu.Must(t, c.Runtime("events", "--stats", c.ID))
	var s cpuStats
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil || s.Type != "stats" {
		t.Fatalf("events --stats: not a stats event (%v): %s", err, r.Stdout)
	}
	return s
}

// A busy loop under cpu.quota is throttled, and its throttled time grows.
func TestCPUQuotaThrottles(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("while :; do :; done"), resources(func(r *specs.LinuxResources) {
		r.CPU = &specs.LinuxCPU{Quota: i64(10000), Period: u64(100000)}
	})))
	startDetached(t, c)
	time.Sleep(500 * time.Millisecond)
	a := stats(t, c).Data.CPU.Throttling
	time.Sleep(700 * time.Millisecond)
	b := stats(t, c).Data.CPU.Throttling
	if a.ThrottledPeriods == 0 || b.ThrottledTime <= a.ThrottledTime {
		t.Errorf("a busy loop under a 10%% quota: throttling %+v then %+v; want throttled periods and a growing throttled time", a, b)
	}
}

// cpu.cpus restricts the CPUs the container's processes may run on.
func TestCpuset(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("grep Cpus_allowed_list /proc/self/status"), resources(func(r *specs.LinuxResources) {
		r.CPU = &specs.LinuxCPU{Cpus: "1", Mems: "0"}
	})))
	if f := strings.Fields(out); len(f) != 2 || f[1] != "1" {
		t.Errorf("Cpus_allowed_list with cpu.cpus \"1\": %q, want 1", strings.TrimSpace(out))
	}
}

// A device node the rules do not allow cannot be opened; with an allow
// rule it can. (Opening /dev/kmsg write-only needs no capability.)
func TestDeviceRules(t *testing.T) {
	t.Parallel()
	kmsg := func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: fileMode(0o200)}}
	}
	script := `if (exec 3>/dev/kmsg) 2>/tmp/err; then echo open; else echo denied; cat /tmp/err; fi; exec 3>/dev/null && echo null-ok`
	denied := runOutput(t, with(sh(script), kmsg))
	if !strings.HasPrefix(denied, "denied") || !strings.Contains(denied, "not permitted") || !strings.Contains(denied, "null-ok") {
		t.Errorf("/dev/kmsg without an allow rule: %q, want denied (Operation not permitted) and /dev/null usable", denied)
	}
	allowed := runOutput(t, with(sh(script), kmsg, resources(func(r *specs.LinuxResources) {
		r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "w"})
	})))
	if !strings.HasPrefix(allowed, "open") {
		t.Errorf("/dev/kmsg with an allow rule: %q, want open", allowed)
	}
}

func fileMode(m os.FileMode) *os.FileMode { return &m }

// The container's own view of its limits, through a cgroup mount in a
// cgroup namespace, written to its rootfs every 50 ms.
func limitsWatcher(s *specs.Spec) {
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "ro"}})
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	// The container's own cgroup files, as its cgroup namespace shows them:
	// one directory per controller on v1, one for all on v2.
	pids, mem := "pids/pids.max", "memory/memory.limit_in_bytes"
	if cgV2() {
		pids, mem = "pids.max", "memory.max"
	}
	s.Process.Args = []string{"sh", "-c", `while :; do echo "$(cat /sys/fs/cgroup/` + pids + `) $(cat /sys/fs/cgroup/` + mem + `)" > /tmp/limits.new; mv /tmp/limits.new /tmp/limits; sleep 0.05; done`}
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(100)}
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(64 << 20)}
}

// update changes live limits, seen from inside; -r - reads them from stdin.
func TestUpdateSeenInside(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, limitsWatcher)
	startDetached(t, c)
	readRootfs(t, c, "tmp/limits", func(s string) bool { return s == fmt.Sprint("100 ", 64<<20) })
	tu.Must(t, c.Runtime("update", "--pids-limit", "7", "--memory", "48m", c.ID))
	readRootfs(t, c, "tmp/limits", func(s string) bool { return s == fmt.Sprint("7 ", 48<<20) })

	cmd := tu.Command(c.Root, c.ID, "update", "-r", "-", c.ID)
	cmd.Stdin = strings.NewReader(`{"pids":{"limit":9}}`)
	tu.Must(t, tu.Exec(t, cmd))
	// Only pids changed: the memory limit of the previous update stays.
	readRootfs(t, c, "tmp/limits", func(s string) bool { return s == fmt.Sprint("9 ", 48<<20) })
	s := stats(t, c).Data
	if s.Pids.Limit != 9 || s.Memory.Usage.Limit != 48<<20 {
		t.Errorf("events --stats after update: pids limit %d, memory limit %d; want 9 and %d", s.Pids.Limit, s.Memory.Usage.Limit, 48<<20)
	}
	// A bad value is refused by name and changes nothing.
	r := c.Runtime("update", "--cpu-share", "1", c.ID)
	wantErrorText(t, r, "cpu.shares")
}

// pause freezes (state paused, the process does not advance), resume thaws.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.02; done"))
	startDetached(t, c)
	readRootfs(t, c, "tmp/n", func(s string) bool { return s != "" })
	tu.Must(t, c.Runtime("pause", c.ID))
	if st := c.State().Status; st != "paused" {
		t.Fatalf("status after pause: %q, want paused", st)
	}
	a := readRootfs(t, c, "tmp/n", func(string) bool { return true })
	time.Sleep(400 * time.Millisecond)
	if b := readRootfs(t, c, "tmp/n", func(string) bool { return true }); a != b {
		t.Errorf("the counter advanced while paused: %s then %s", a, b)
	}
	wantErrorText(t, c.Runtime("pause", c.ID), "paused")
	tu.Must(t, c.Runtime("resume", c.ID))
	if st := c.State().Status; st != "running" {
		t.Errorf("status after resume: %q, want running", st)
	}
	readRootfs(t, c, "tmp/n", func(s string) bool { return s != a })
}

func psJSON(t *testing.T, c *tu.Container) []int {
	t.Helper()
	r := tu.Must(t, c.Runtime("ps", "--format", "json", c.ID))
	var pids []int
	if err := json.Unmarshal([]byte(r.Stdout), &pids); err != nil {
		t.Fatalf("ps --format json: %v: %q", err, r.Stdout)
	}
	return pids
}

// ps --format json lists the host pids of the container's processes, and
// the table shows their lines of the host's ps.
func TestPs(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("sleep 1000 & exec sleep 1001"))
	st := startDetached(t, c)
	// Until both have exec'd sleep: the forked child is a copy of sh for
	// a moment.
	sleeps := func(pids []int) bool {
		for _, pid := range pids {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if !strings.HasPrefix(string(b), "sleep\x00100") {
				return false
			}
		}
		return true
	}
	var pids []int
	deadline := time.Now().Add(5 * time.Second)
	for (len(pids) != 2 || !sleeps(pids)) && time.Now().Before(deadline) {
		pids = psJSON(t, c)
	}
	if len(pids) != 2 || !slices.Contains(pids, st.Pid) {
		t.Fatalf("ps --format json: %v, want the init %d and its child", pids, st.Pid)
	}
	if !sleeps(pids) {
		t.Errorf("ps --format json lists %v, not the container's two sleeps", pids)
	}
	table := tu.Must(t, c.Runtime("ps", c.ID)).Stdout
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "PID") || !strings.Contains(table, "sleep 1001") {
		t.Errorf("ps table: want a header and two sleeps, got:\n%s", table)
	}
}

// kill --all reaches a forked child, even without a pid namespace (where
// the init's death would not take it along).
func TestKillAllReachesForkedChild(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("sleep 1000 & exec sleep 1001"), func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.PIDNamespace })
	}))
	st := startDetached(t, c)
	var child int
	deadline := time.Now().Add(5 * time.Second)
	for child == 0 && time.Now().Before(deadline) {
		for _, pid := range psJSON(t, c) {
			if pid != st.Pid {
				child = pid
			}
		}
	}
	if child == 0 {
		t.Fatal("the forked child never showed in ps")
	}
	tu.Must(t, c.Runtime("kill", "--all", c.ID, "TERM"))
	deadline = time.Now().Add(5 * time.Second)
	for {
		if syscall.Kill(child, 0) != nil {
			break
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child)); strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forked child %d survived kill --all TERM", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.WaitStatus("stopped", 5*time.Second)
}

// cgroupLeftovers lists the container's cgroup directories in any hierarchy.
func cgroupLeftovers(id string) []string {
	var left []string
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + tu.CgroupParent + "/" + id)
	left = append(left, dirs...)
	if d := "/sys/fs/cgroup" + tu.CgroupParent + "/" + id; fileExists(d) {
		left = append(left, d)
	}
	return left
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// 50 create/start/kill/delete cycles, with delete --force of running and
// paused containers, leave no cgroup directory in any hierarchy.
func TestNoCgroupLeftovers(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("sleep 1000 & exec sleep 1001"), resources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64(64 << 20)}
		r.Pids = &specs.LinuxPids{Limit: i64(50)}
	})))
	for i := range 50 {
		tu.Must(t, c.Create())
		tu.Must(t, c.Runtime("start", c.ID))
		switch i % 3 {
		case 0:
			tu.Must(t, c.Runtime("kill", c.ID, "KILL"))
			c.WaitStatus("stopped", 5*time.Second)
			tu.Must(t, c.Runtime("delete", c.ID))
		case 1:
			tu.Must(t, c.Runtime("delete", "--force", c.ID))
		case 2:
			tu.Must(t, c.Runtime("pause", c.ID))
			tu.Must(t, c.Runtime("delete", "--force", c.ID))
		}
		if left := cgroupLeftovers(c.ID); len(left) > 0 {
			t.Fatalf("cycle %d: cgroup directories left behind: %v", i, left)
		}
	}
}

// A resources field that cannot be applied is refused by name, and leaves
// no container and no cgroup directory.
func TestBadResourcesLeaveNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		field string
		set   func(r *specs.LinuxResources)
	}{
		{"kernel memory", "linux.resources.memory.kernel", func(r *specs.LinuxResources) { r.Memory = &specs.LinuxMemory{Kernel: i64(1 << 20)} }},
		{"shares out of range", "linux.resources.cpu.shares", func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Shares: u64(1)} }},
		{"swap below limit", "linux.resources.memory.swap", func(r *specs.LinuxResources) {
			r.Memory = &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(32 << 20)}
		}},
		{"bad cpuset", "linux.resources.cpu.cpus", func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Cpus: "3-1"} }},
		{"bad device type", "linux.resources.devices[1]", func(r *specs.LinuxResources) {
			r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "x"})
		}},
		// Refused by the host, after its cgroup was made: no kernel since
		// 5.0 (cfq's removal) has blkio.leaf_weight, and v2 has none.
		{"leaf weight", "linux.resources.blockIO.leafWeight", func(r *specs.LinuxResources) { r.BlockIO = &specs.LinuxBlockIO{LeafWeight: u16(500)} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tu.NewContainer(t, resources(tc.set))
			wantErrorText(t, c.Create(), tc.field)
			if left := cgroupLeftovers(c.ID); len(left) > 0 {
				t.Errorf("cgroup directories left after the refusal: %v", left)
			}
			if r := c.Runtime("state", c.ID); r.Code == 0 {
				t.Errorf("the refused container exists: %s", r)
			}
		})
	}
}

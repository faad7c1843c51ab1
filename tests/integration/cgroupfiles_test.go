package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// The container's cgroup files, read from the host: every linux.resources
// field lands in the file the host's cgroup version has for it (v2 on a
// pure cgroup v2 host, v1 on a v1 or hybrid one), and pause, update,
// events, ps, kill --all and delete act on those files. Each test asserts
// in both modes: what a host cannot do is checked as a refusal.

// cgV2 says whether /sys/fs/cgroup is a cgroup2 mount (a pure v2 host).
func cgV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgDir is the host directory of the container's cgroup for a v1
// controller (ignored on v2: there is one directory).
func cgDir(id, ctrl string) string {
	if cgV2() {
		return filepath.Join("/sys/fs/cgroup", tu.CgroupParent, id)
	}
	return filepath.Join("/sys/fs/cgroup", ctrl, tu.CgroupParent, id)
}

// cgRead reads one of the container's cgroup files, failing the test if it
// cannot.
func cgRead(t *testing.T, id, ctrl, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cgDir(id, ctrl), name))
	if err != nil {
		t.Fatalf("read the container's cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// cgWant checks one file's content.
func cgWant(t *testing.T, id, ctrl, name, want string) {
	t.Helper()
	if got := cgRead(t, id, ctrl, name); got != want {
		t.Errorf("%s: %q, want %q", filepath.Join(cgDir(id, ctrl), name), got, want)
	}
}

func cgExists(id, ctrl, name string) bool {
	return fileExists(filepath.Join(cgDir(id, ctrl), name))
}

// sharesToWeight are the two conversions of cpu.shares to cgroup v2's
// cpu.weight runc has used: linear (runc <= 1.3, Debian 12's 1.1.5) and the
// quadratic fit of opencontainers/cgroups >= 0.0.5 (runc 1.4, crun 1.23),
// which maps the v1 default 1024 onto the v2 default 100.
func sharesToWeight(shares uint64) (linear, quadratic uint64) {
	linear = 1 + ((shares-2)*9999)/262142
	l := math.Log2(float64(shares))
	quadratic = uint64(math.Ceil(math.Pow(10, (l*l+125*l)/612.0-7.0/34.0)))
	return linear, quadratic
}

// checkWeight checks cpu.weight for shares: strata uses the quadratic
// conversion of the library it is built on; another runtime may use either.
func checkWeight(t *testing.T, id string, shares uint64) {
	t.Helper()
	lin, quad := sharesToWeight(shares)
	got := cgRead(t, id, "", "cpu.weight")
	switch {
	case got == strconv.FormatUint(quad, 10):
	case got == strconv.FormatUint(lin, 10) && !tu.IsStrata():
		t.Logf("cpu.weight %s: this runtime converts shares %d linearly", got, shares)
	default:
		t.Errorf("cpu.weight for cpu.shares %d: %q, want %d (or %d, runc's old linear conversion, for other runtimes)", shares, got, quad, lin)
	}
}

// blockDevice finds a whole disk to throttle: the one holding / if it is
// one (or its parent disk), else the first disk in /sys/block that is not
// a loop, ram, zram or nbd device.
func blockDevice(t *testing.T) (major, minor int64) {
	t.Helper()
	parse := func(s string) (int64, int64, bool) {
		a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
		ma, err1 := strconv.ParseInt(a, 10, 64)
		mi, err2 := strconv.ParseInt(b, 10, 64)
		return ma, mi, ok && err1 == nil && err2 == nil
	}
	var st unix.Stat_t
	if unix.Stat("/", &st) == nil {
		sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
		if fileExists(filepath.Join(sys, "partition")) {
			sys = filepath.Join(sys, "..")
		}
		if real, err := filepath.EvalSymlinks(sys); err == nil && strings.Contains(real, "/block/") && !fileExists(filepath.Join(real, "partition")) {
			if b, err := os.ReadFile(filepath.Join(real, "dev")); err == nil {
				if ma, mi, ok := parse(string(b)); ok && !strings.Contains(filepath.Base(real), "loop") {
					return ma, mi
				}
			}
		}
	}
	disks, _ := filepath.Glob("/sys/block/*")
	sort.Strings(disks)
	for _, d := range disks {
		name := filepath.Base(d)
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") || strings.HasPrefix(name, "nbd") {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "dev")); err == nil {
			if ma, mi, ok := parse(string(b)); ok {
				return ma, mi
			}
		}
	}
	t.Fatal("no block device to throttle in /sys/block (only loop, ram, zram or nbd devices)")
	return 0, 0
}

// hostCPUs is the host's list of CPUs a container may use.
func hostCPUs() string {
	for _, f := range []string{"/sys/fs/cgroup/cpuset.cpus.effective", "/sys/fs/cgroup/cpuset/cpuset.effective_cpus", "/sys/fs/cgroup/cpuset/cpuset.cpus"} {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) != "" {
			return strings.TrimSpace(string(b))
		}
	}
	return "0"
}

// v2Controller says whether the v2 root offers a controller.
func v2Controller(name string) bool {
	b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return slices.Contains(strings.Fields(string(b)), name)
}

// noLeftovers checks that the container's cgroup is gone in every hierarchy.
func noLeftovers(t *testing.T, id string) {
	t.Helper()
	if left := cgroupLeftovers(id); len(left) > 0 {
		t.Errorf("cgroup directories left behind: %v", left)
	}
}

// killDelete stops a container with SIGKILL and deletes it, then checks its
// cgroups are gone.
func killDelete(t *testing.T, c *tu.Container) {
	t.Helper()
	tu.Must(t, c.Runtime("kill", c.ID, "KILL"))
	c.WaitStatus("stopped", 30*time.Second)
	tu.Must(t, c.Runtime("delete", c.ID))
	noLeftovers(t, c.ID)
}

const (
	mib = int64(1) << 20
	// A sleeping init with a child: two processes, stable memory use.
	twoSleeps = "sleep 1000 & exec sleep 1001"
)

// TestCgroupFilesLimits: memory, swap, reservation, cpu shares, quota and
// period, cpuset, block I/O throttles, pids and unified keys in one
// container.
func TestCgroupFilesLimits(t *testing.T) {
	t.Parallel()
	major, minor := blockDevice(t)
	v2 := cgV2()
	c := tu.NewContainer(t, with(sh(twoSleeps), resources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64(64 * mib), Reservation: i64(32 * mib), Swap: i64(96 * mib)}
		r.CPU = &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"}
		r.Pids = &specs.LinuxPids{Limit: i64(50)}
		r.BlockIO = &specs.LinuxBlockIO{
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 20}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 2 << 20}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 200}},
		}
		if v2 {
			// Written verbatim: a file no other field sets.
			r.Unified = map[string]string{"memory.high": strconv.FormatInt(60*mib, 10)}
		}
	})))
	startDetached(t, c)
	id := c.ID
	dev := fmt.Sprintf("%d:%d", major, minor)
	if v2 {
		t.Logf("cgroup v2: %s", cgDir(id, ""))
		cgWant(t, id, "", "memory.max", fmt.Sprint(64*mib))
		// The spec's swap is memory+swap; v2's memory.swap.max is swap alone.
		cgWant(t, id, "", "memory.swap.max", fmt.Sprint(32*mib))
		cgWant(t, id, "", "memory.low", fmt.Sprint(32*mib))
		cgWant(t, id, "", "memory.high", fmt.Sprint(60*mib))
		// Neither runc nor strata turns on group OOM kills.
		cgWant(t, id, "", "memory.oom.group", "0")
		checkWeight(t, id, 512)
		cgWant(t, id, "", "cpu.max", "50000 100000")
		cgWant(t, id, "", "cpuset.cpus", "0")
		cgWant(t, id, "", "cpuset.mems", "0")
		cgWant(t, id, "", "pids.max", "50")
		var line string
		for _, l := range strings.Split(cgRead(t, id, "", "io.max"), "\n") {
			if strings.HasPrefix(l, dev+" ") {
				line = l
			}
		}
		if want := dev + " rbps=1048576 wbps=2097152 riops=100 wiops=200"; line != want {
			t.Errorf("io.max line of %s: %q, want %q", dev, line, want)
		}
	} else {
		t.Logf("cgroup v1: %s", cgDir(id, "memory"))
		cgWant(t, id, "memory", "memory.limit_in_bytes", fmt.Sprint(64*mib))
		cgWant(t, id, "memory", "memory.soft_limit_in_bytes", fmt.Sprint(32*mib))
		cgWant(t, id, "memory", "memory.memsw.limit_in_bytes", fmt.Sprint(96*mib))
		cgWant(t, id, "cpu", "cpu.shares", "512")
		cgWant(t, id, "cpu", "cpu.cfs_quota_us", "50000")
		cgWant(t, id, "cpu", "cpu.cfs_period_us", "100000")
		cgWant(t, id, "cpuset", "cpuset.cpus", "0")
		cgWant(t, id, "cpuset", "cpuset.mems", "0")
		cgWant(t, id, "pids", "pids.max", "50")
		for file, rate := range map[string]string{
			"blkio.throttle.read_bps_device": "1048576", "blkio.throttle.write_bps_device": "2097152",
			"blkio.throttle.read_iops_device": "100", "blkio.throttle.write_iops_device": "200",
		} {
			cgWant(t, id, "blkio", file, dev+" "+rate)
		}
	}
	killDelete(t, c)
}

// cpu.idle (a cgroup whose tasks are SCHED_IDLE). Alone: the kernel refuses
// a weight for an idle group.
func TestCgroupFilesCPUIdle(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, resources(func(r *specs.LinuxResources) {
		r.CPU = &specs.LinuxCPU{Idle: i64(1)}
	})))
	startDetached(t, c)
	if got := cgRead(t, c.ID, "cpu", "cpu.idle"); got != "1" {
		if !tu.IsStrata() && got == "0" {
			// runc 1.1 (Debian 12's 1.1.5) ignores cpu.idle, on v1
			// and v2 alike: seen on the host and in the 6.1/6.12 guests.
			t.Logf("cpu.idle %q: this runtime does not set linux.resources.cpu.idle", got)
		} else {
			t.Errorf("%s/cpu.idle: %q, want 1", cgDir(c.ID, "cpu"), got)
		}
	}
	killDelete(t, c)
}

// memory.disableOOMKiller: v1 has memory.oom_control; v2 has nothing
// alike, and runc ignores the field there (its fs2 driver never reads it),
// so the container is created and memory.oom.group stays 0.
func TestCgroupFilesDisableOOMKiller(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, resources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64(64 * mib), DisableOOMKiller: boolPtr(true)}
	})))
	startDetached(t, c)
	if cgV2() {
		cgWant(t, c.ID, "", "memory.max", fmt.Sprint(64*mib))
		cgWant(t, c.ID, "", "memory.oom.group", "0")
	} else {
		oc := cgRead(t, c.ID, "memory", "memory.oom_control")
		if !slices.Contains(strings.Split(oc, "\n"), "oom_kill_disable 1") {
			t.Errorf("memory.oom_control: %q, want oom_kill_disable 1", oc)
		}
	}
	killDelete(t, c)
}

func boolPtr(b bool) *bool { return &b }

// blockIO.weight: v2 io.bfq.weight (as is) or io.weight (converted to
// 1..10000), v1 blkio.bfq.weight or blkio.weight. A host whose I/O
// schedulers offer no weight file refuses the field, in every runtime.
func TestCgroupFilesBlkioWeight(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, resources(func(r *specs.LinuxResources) {
		r.BlockIO = &specs.LinuxBlockIO{Weight: u16(500)}
	})))
	// Does this host have a weight file? Ask the cgroup of a container
	// without the field (every runtime makes the blkio or io one).
	probe := tu.NewContainer(t, sleeper)
	v2 := cgV2()
	startDetached(t, probe)
	ctrl := "blkio"
	files := []string{"blkio.bfq.weight", "blkio.weight"}
	if v2 {
		ctrl, files = "", []string{"io.bfq.weight", "io.weight"}
	}
	var file string
	for _, f := range files {
		if cgExists(probe.ID, ctrl, f) {
			file = f
			break
		}
	}
	killDelete(t, probe)
	r := c.Run("--detach")
	if file == "" {
		t.Logf("no %s in a cgroup of this host: its I/O schedulers have no weights; blockIO.weight must be refused", strings.Join(files, " or "))
		// (strata names blockIO.weight, or blockIO where the io
		// controller itself is missing.)
		wantErrorText(t, r, "linux.resources.blockIO")
		noLeftovers(t, c.ID)
		return
	}
	tu.Must(t, r)
	c.WaitStatus("running", 30*time.Second)
	want := "500"
	if file == "io.weight" {
		want = "4950" // 1 + (500-10)*9999/990
	}
	got := cgRead(t, c.ID, ctrl, file)
	// v2 files read "default N" (then per-device lines); v1 reads N.
	first := strings.TrimPrefix(strings.SplitN(got, "\n", 2)[0], "default ")
	if first != want {
		t.Errorf("%s for blockIO.weight 500: %q, want %s", file, got, want)
	}
	killDelete(t, c)
}

// hugepageLimits: hugetlb.<size>.max (v2) or .limit_in_bytes (v1), and the
// reservation limit .rsvd.* where the kernel has it. Without the hugetlb
// controller the field is refused.
func TestCgroupFilesHugetlb(t *testing.T) {
	t.Parallel()
	sizes, _ := filepath.Glob("/sys/kernel/mm/hugepages/hugepages-*kB")
	if len(sizes) == 0 {
		t.Fatal("no /sys/kernel/mm/hugepages/hugepages-*kB: a kernel without hugetlbfs")
	}
	// The smallest page size (2MB on x86): its limit is a small number.
	var kb uint64
	for _, d := range sizes {
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(d), "hugepages-"), "kB"), 10, 64)
		if err == nil && v > 0 && (kb == 0 || v < kb) {
			kb = v
		}
	}
	size := fmt.Sprintf("%dMB", kb/1024)
	if kb >= 1<<20 {
		size = fmt.Sprintf("%dGB", kb>>20)
	}
	limit := 4 * kb * 1024
	c := tu.NewContainer(t, with(sleeper, resources(func(r *specs.LinuxResources) {
		r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: size, Limit: limit}}
	})))
	v2 := cgV2()
	have := v2 && v2Controller("hugetlb") || !v2 && fileExists("/sys/fs/cgroup/hugetlb/cgroup.procs")
	r := c.Run("--detach")
	if !have {
		t.Logf("this host has no hugetlb cgroup controller: hugepageLimits must be refused")
		wantErrorText(t, r, "hugepageLimits")
		noLeftovers(t, c.ID)
		return
	}
	tu.Must(t, r)
	c.WaitStatus("running", 30*time.Second)
	lim, rsvd := ".max", ".rsvd.max"
	if !v2 {
		lim, rsvd = ".limit_in_bytes", ".rsvd.limit_in_bytes"
	}
	cgWant(t, c.ID, "hugetlb", "hugetlb."+size+lim, fmt.Sprint(limit))
	if cgExists(c.ID, "hugetlb", "hugetlb."+size+rsvd) {
		got := cgRead(t, c.ID, "hugetlb", "hugetlb."+size+rsvd)
		switch {
		case got == fmt.Sprint(limit):
		case !tu.IsStrata():
			t.Logf("hugetlb.%s%s: %q: this runtime does not limit reservations", size, rsvd, got)
		default:
			t.Errorf("hugetlb.%s%s: %q, want %d", size, rsvd, got, limit)
		}
	} else {
		t.Logf("this kernel has no hugetlb.%s%s", size, rsvd)
	}
	killDelete(t, c)
}

// rdma: rdma.max holds the device's limits. With no RDMA device on the
// host the kernel has nothing to limit: runc's write of rdma.max fails
// (ENODEV on v2; no rdma hierarchy on most v1 hosts), and so must strata's.
func TestCgroupFilesRdma(t *testing.T) {
	t.Parallel()
	devs, _ := filepath.Glob("/sys/class/infiniband/*")
	dev := "strata_nodev0"
	if len(devs) > 0 {
		dev = filepath.Base(devs[0])
	}
	c := tu.NewContainer(t, with(sleeper, resources(func(r *specs.LinuxResources) {
		r.Rdma = map[string]specs.LinuxRdma{dev: {HcaHandles: func(v uint32) *uint32 { return &v }(10), HcaObjects: func(v uint32) *uint32 { return &v }(100)}}
	})))
	r := c.Run("--detach")
	if len(devs) == 0 {
		t.Logf("no RDMA device in /sys/class/infiniband: only the refusal of a limit for a missing device is checked")
		wantErrorText(t, r, "rdma")
		noLeftovers(t, c.ID)
		return
	}
	tu.Must(t, r)
	c.WaitStatus("running", 30*time.Second)
	got := cgRead(t, c.ID, "rdma", "rdma.max")
	if !slices.Contains(strings.Split(got, "\n"), dev+" hca_handle=10 hca_object=100") {
		t.Errorf("rdma.max: %q, want a line %q", got, dev+" hca_handle=10 hca_object=100")
	}
	killDelete(t, c)
}

// linux.resources.unified needs cgroup v2: a v1 or hybrid host refuses it
// (runc: "cgroup v2 not enabled on this host, can't use unified").
func TestCgroupFilesUnifiedOnV1(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, resources(func(r *specs.LinuxResources) {
		r.Unified = map[string]string{"pids.max": "42"}
	})))
	r := c.Run("--detach")
	if cgV2() {
		tu.Must(t, r)
		c.WaitStatus("running", 30*time.Second)
		cgWant(t, c.ID, "", "pids.max", "42")
		killDelete(t, c)
		return
	}
	wantErrorText(t, r, "unified")
	noLeftovers(t, c.ID)
}

// freezerState reads the container's freezer from the host: "1" or "0" in
// cgroup.freeze and the frozen line of cgroup.events on v2, FROZEN or THAWED
// on v1.
func checkFrozen(t *testing.T, id string, frozen bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		var seen string
		if cgV2() {
			want := map[bool]string{true: "1", false: "0"}[frozen]
			f, ev := cgRead(t, id, "", "cgroup.freeze"), cgRead(t, id, "", "cgroup.events")
			ok = f == want && slices.Contains(strings.Split(ev, "\n"), "frozen "+want)
			seen = fmt.Sprintf("cgroup.freeze %q, cgroup.events %q", f, ev)
		} else {
			want := map[bool]string{true: "FROZEN", false: "THAWED"}[frozen]
			st := cgRead(t, id, "freezer", "freezer.state")
			ok = st == want
			seen = "freezer.state " + st
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("frozen %v: %s after 10s", frozen, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pause and resume drive the freezer file.
func TestCgroupFilesPauseResume(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh(twoSleeps))
	startDetached(t, c)
	checkFrozen(t, c.ID, false)
	tu.Must(t, c.Runtime("pause", c.ID))
	checkFrozen(t, c.ID, true)
	if st := c.State().Status; st != "paused" {
		t.Errorf("status after pause: %q", st)
	}
	tu.Must(t, c.Runtime("resume", c.ID))
	checkFrozen(t, c.ID, false)
	if st := c.State().Status; st != "running" {
		t.Errorf("status after resume: %q", st)
	}
	killDelete(t, c)
}

// update rewrites the files.
func TestCgroupFilesUpdate(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh(twoSleeps), resources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(96 * mib)}
		r.CPU = &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"}
		r.Pids = &specs.LinuxPids{Limit: i64(50)}
	})))
	startDetached(t, c)
	cpus := hostCPUs()
	tu.Must(t, c.Runtime("update", "--memory", "48m", "--memory-swap", "80m", "--pids-limit", "7",
		"--cpu-quota", "20000", "--cpu-period", "50000", "--cpu-share", "256", "--cpuset-cpus", cpus, c.ID))
	id := c.ID
	if cgV2() {
		cgWant(t, id, "", "memory.max", fmt.Sprint(48*mib))
		cgWant(t, id, "", "memory.swap.max", fmt.Sprint(32*mib))
		cgWant(t, id, "", "pids.max", "7")
		cgWant(t, id, "", "cpu.max", "20000 50000")
		checkWeight(t, id, 256)
		cgWant(t, id, "", "cpuset.cpus", cpus)
	} else {
		cgWant(t, id, "memory", "memory.limit_in_bytes", fmt.Sprint(48*mib))
		cgWant(t, id, "memory", "memory.memsw.limit_in_bytes", fmt.Sprint(80*mib))
		cgWant(t, id, "pids", "pids.max", "7")
		cgWant(t, id, "cpu", "cpu.cfs_quota_us", "20000")
		cgWant(t, id, "cpu", "cpu.cfs_period_us", "50000")
		cgWant(t, id, "cpu", "cpu.shares", "256")
		cgWant(t, id, "cpuset", "cpuset.cpus", cpus)
	}
	// -r: a resources object; only what it names changes.
	cmd := tu.Command(c.Root, c.ID, "update", "-r", "-", c.ID)
	cmd.Stdin = strings.NewReader(`{"pids":{"limit":9}}`)
	tu.Must(t, tu.Exec(t, cmd))
	cgWant(t, id, "pids", "pids.max", "9")
	if cgV2() {
		cgWant(t, id, "", "memory.max", fmt.Sprint(48*mib))
	} else {
		cgWant(t, id, "memory", "memory.limit_in_bytes", fmt.Sprint(48*mib))
	}
	killDelete(t, c)
}

// fileStats is what the tests read of `events --stats`.
type fileStats struct {
	Type string `json:"type"`
	Data struct {
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
		Memory struct {
			Usage struct {
				Usage uint64 `json:"usage"`
				Limit uint64 `json:"limit"`
			} `json:"usage"`
		} `json:"memory"`
	} `json:"data"`
}

// events --stats reports the memory and pids numbers of the files.
func TestCgroupFilesEventsStats(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh(twoSleeps), resources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64(64 * mib)}
		r.Pids = &specs.LinuxPids{Limit: i64(50)}
	})))
	startDetached(t, c)
	id := c.ID
	usageFile, limitFile := "memory.current", "memory.max"
	if !cgV2() {
		usageFile, limitFile = "memory.usage_in_bytes", "memory.limit_in_bytes"
	}
	num := func(ctrl, name string) uint64 {
		v, err := strconv.ParseUint(cgRead(t, id, ctrl, name), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	// Both sleeps in the cgroup before the numbers are compared.
	deadline := time.Now().Add(10 * time.Second)
	for num("pids", "pids.current") != 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	before := num("memory", usageFile)
	r := tu.Must(t, c.Runtime("events", "--stats", id))
	after := num("memory", usageFile)
	var s fileStats
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil || s.Type != "stats" {
		t.Fatalf("events --stats: not a stats event (%v): %s", err, r.Stdout)
	}
	d := s.Data
	if cur := num("pids", "pids.current"); d.Pids.Current != cur || cur != 2 {
		t.Errorf("events --stats pids.current %d, pids.current file %d (want 2, the two sleeps)", d.Pids.Current, cur)
	}
	if pmax := num("pids", "pids.max"); d.Pids.Limit != pmax {
		t.Errorf("events --stats pids.limit %d, pids.max file %d", d.Pids.Limit, pmax)
	}
	if lim := num("memory", limitFile); d.Memory.Usage.Limit != lim || lim != uint64(64*mib) {
		t.Errorf("events --stats memory.usage.limit %d, %s %d (want %d)", d.Memory.Usage.Limit, limitFile, lim, 64*mib)
	}
	lo, hi := min(before, after), max(before, after)
	slack := uint64(mib) + hi/10
	if u := d.Memory.Usage.Usage; u == 0 || u+slack < lo || u > hi+slack {
		t.Errorf("events --stats memory.usage.usage %d, %s read %d before and %d after", u, usageFile, before, after)
	}
	killDelete(t, c)
}

// procs lists a cgroup.procs file (and its sub-cgroups') from the host.
func procs(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		return nil
	})
	sort.Ints(pids)
	return pids
}

// ps lists what the cgroup holds: the init and its child.
func TestCgroupFilesPs(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh(twoSleeps))
	st := startDetached(t, c)
	dir := cgDir(c.ID, "pids")
	deadline := time.Now().Add(10 * time.Second)
	for len(procs(dir)) != 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	want := procs(dir)
	got := psJSON(t, c)
	sort.Ints(got)
	if !slices.Equal(got, want) || !slices.Contains(got, st.Pid) {
		t.Errorf("ps --format json: %v; the cgroup's cgroup.procs: %v; init %d", got, want, st.Pid)
	}
	killDelete(t, c)
}

// forkedChild waits for a process other than the init to show in the
// cgroup dir and returns its pid.
func forkedChild(t *testing.T, dir string, initPid int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, pid := range procs(dir) {
			if pid != initPid {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the forked child never showed in %s/cgroup.procs", dir)
	return 0
}

// kill --all reaches a child forked outside of a pid namespace (which would
// otherwise take it along): the cgroup empties.
func TestCgroupFilesKillAll(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh(twoSleeps), withoutNamespace(specs.PIDNamespace)))
	st := startDetached(t, c)
	dir := cgDir(c.ID, "pids")
	child := forkedChild(t, dir, st.Pid)
	tu.Must(t, c.Runtime("kill", "--all", c.ID, "KILL"))
	pidGone(t, child)
	pidGone(t, st.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for len(procs(dir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %v after kill --all KILL", dir, procs(dir))
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.WaitStatus("stopped", 30*time.Second)
	tu.Must(t, c.Runtime("delete", c.ID))
	noLeftovers(t, c.ID)
}

// delete removes a cgroup the container made below its own, through a
// cgroup namespace and a writable cgroup mount, with a process in it.
func TestCgroupFilesDeleteSubcgroupFromInside(t *testing.T) {
	t.Parallel()
	script := `if [ -f /sys/fs/cgroup/cgroup.controllers ]; then d=/sys/fs/cgroup; else d=/sys/fs/cgroup/pids; fi
mkdir $d/sub || exit 1
sleep 1000 &
echo $! > $d/sub/cgroup.procs || exit 1
echo ok > /tmp/ready
exec sleep 1001`
	c := tu.NewContainer(t, with(sh(script), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev"}})
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}))
	startDetached(t, c)
	readRootfs(t, c, "tmp/ready", func(s string) bool { return s == "ok" })
	sub := filepath.Join(cgDir(c.ID, "pids"), "sub")
	if len(procs(sub)) != 1 {
		t.Fatalf("%s: processes %v, want the container's sleep", sub, procs(sub))
	}
	killDelete(t, c)
}

// delete --force removes a sub-cgroup made from the host, with one of the
// container's processes moved in.
func TestCgroupFilesDeleteSubcgroupFromHost(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh(twoSleeps))
	st := startDetached(t, c)
	dir := cgDir(c.ID, "pids")
	child := forkedChild(t, dir, st.Pid)
	ctrls := []string{""}
	if !cgV2() {
		ctrls = []string{"pids", "memory", "cpu", "freezer", "devices"}
	}
	for _, ctrl := range ctrls {
		sub := filepath.Join(cgDir(c.ID, ctrl), "sub", "deeper")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(strconv.Itoa(child)), 0); err != nil {
			t.Fatalf("move the container's %d to %s: %v", child, sub, err)
		}
	}
	tu.Must(t, c.Runtime("delete", "--force", c.ID))
	pidGone(t, child)
	noLeftovers(t, c.ID)
	for _, ctrl := range ctrls {
		if d := cgDir(c.ID, ctrl); fileExists(d) {
			t.Errorf("%s left behind", d)
		}
	}
}

// foreignDir makes the container's cgroup before the runtime does, as
// someone else would: the freezer's (v1) or the only one (v2).
func foreignDir(t *testing.T, id, ctrl string) string {
	t.Helper()
	dir := cgDir(id, ctrl)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A frozen cgroup is someone else's: create refuses it, naming it, and
// leaves it as it was.
func TestCgroupFilesFrozenForeignRefused(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sleeper)
	dir := foreignDir(t, c.ID, "freezer")
	file, frozen, thawed := "cgroup.freeze", "1", "0"
	if !cgV2() {
		file, frozen, thawed = "freezer.state", "FROZEN", "THAWED"
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(frozen), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(filepath.Join(dir, file), []byte(thawed), 0) })
	r := c.Create()
	wantErrorText(t, r, "frozen")
	wantErrorText(t, r, tu.CgroupParent+"/"+c.ID)
	if b, err := os.ReadFile(filepath.Join(dir, file)); err != nil || strings.TrimSpace(string(b)) != frozen {
		t.Errorf("the refused create changed %s/%s: %q (%v)", dir, file, b, err)
	}
	if r := c.Runtime("state", c.ID); r.Code == 0 {
		t.Errorf("the refused container exists: %s", r)
	}
}

// A cgroup holding someone else's process: as runc 1.1, the container
// runs beside it with a warning naming the cgroup, and its delete leaves
// the stranger (and so its cgroup) alone, naming the cgroup it could not
// remove. (runc 1.2 refuses such a cgroup.)
func TestCgroupFilesNonEmptyForeignWarned(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sleeper)
	// runc looks at the devices hierarchy on v1.
	dir := foreignDir(t, c.ID, "devices")
	stranger := exec.Command("sleep", "1000")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stranger.Process.Kill(); stranger.Wait() })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(stranger.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	r := tu.Must(t, c.Create())
	if tu.IsStrata() && (!strings.Contains(r.Stderr, "already holds 1 process") || !strings.Contains(r.Stderr, tu.CgroupParent+"/"+c.ID)) {
		t.Errorf("create gave no warning naming the cgroup: %s", r)
	}
	d := c.Runtime("delete", "--force", c.ID)
	if tu.IsStrata() {
		wantErrorText(t, d, "joined it from outside the container")
	}
	if syscall.Kill(stranger.Process.Pid, 0) != nil {
		t.Error("the container's delete killed the stranger in the cgroup")
	}
	if !slices.Contains(procs(dir), stranger.Process.Pid) {
		t.Errorf("the stranger %d is no longer in %s", stranger.Process.Pid, dir)
	}
	if r := c.Runtime("state", c.ID); r.Code == 0 {
		t.Errorf("the deleted container still exists: %s", r)
	}
}

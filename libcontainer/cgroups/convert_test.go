package cgroups

import (
	"strings"
	"testing"

	cg "github.com/opencontainers/cgroups"
	devcfg "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

// cpu.shares becomes cpu.weight on v2 as runc converts it: the ends and
// the default of each range map onto each other.
func TestSharesToWeight(t *testing.T) {
	for shares, weight := range map[uint64]uint64{2: 1, 1024: 100, 262144: 10000, 512: 59, 4096: 303} {
		r, err := Resources(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(shares)}})
		if err != nil {
			t.Fatal(err)
		}
		if r.CpuShares != shares || r.CpuWeight != weight {
			t.Errorf("shares %d: CpuShares %d CpuWeight %d, want weight %d", shares, r.CpuShares, r.CpuWeight, weight)
		}
	}
}

// The v2 conversions the library applies to what the adapter hands it.
func TestV2Conversions(t *testing.T) {
	if w := cg.ConvertBlkIOToIOWeightValue(500); w != 4950 {
		t.Errorf("blkio weight 500 -> io.weight %d, want 4950", w)
	}
	if s, err := cg.ConvertMemorySwapToCgroupV2Value(96<<20, 64<<20); err != nil || s != 32<<20 {
		t.Errorf("swap 96M with limit 64M -> memory.swap.max %d (%v), want 32M", s, err)
	}
}

func TestCgroupsPath(t *testing.T) {
	for path, want := range map[string]cg.Cgroup{
		"/a/b/../c": {Path: "/a/c"},
		"rel/x":     {Path: "rel/x"},
		"../../up":  {Path: "up"}, // cannot climb above the caller's cgroup
		"":          {Name: "ctr"},
	} {
		c, err := Config("ctr", &specs.Spec{Linux: &specs.Linux{CgroupsPath: path}}, Cgroupfs)
		if err != nil {
			t.Fatalf("%q: %v", path, err)
		}
		if c.Path != want.Path || c.Name != want.Name {
			t.Errorf("cgroupsPath %q: Path %q Name %q, want %q %q", path, c.Path, c.Name, want.Path, want.Name)
		}
	}
	if _, err := Config("ctr", &specs.Spec{Linux: &specs.Linux{CgroupsPath: "/.."}}, Cgroupfs); err == nil || !strings.Contains(err.Error(), "linux.cgroupsPath") {
		t.Errorf("cgroupsPath /..: %v, want a refusal naming linux.cgroupsPath", err)
	}
}

func TestResourcesFields(t *testing.T) {
	r, err := Resources(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20), Reservation: i64(32 << 20), Swappiness: u64(10)},
		CPU:     &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000), Cpus: "0-1,3", Mems: "0", Burst: u64(1000), Idle: i64(1)},
		Pids:    &specs.LinuxPids{Limit: i64(0)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(300), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1 << 20}}},
		Unified: map[string]string{"memory.high": "1000000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Memory != 64<<20 || r.MemorySwap != 128<<20 || r.MemoryReservation != 32<<20 || *r.MemorySwappiness != 10 ||
		r.CpuQuota != 50000 || r.CpuPeriod != 100000 || r.CpusetCpus != "0-1,3" || *r.CpuBurst != 1000 || *r.CPUIdle != 1 ||
		*r.PidsLimit != 0 || r.BlkioWeight != 300 || len(r.BlkioThrottleReadBpsDevice) != 1 || r.Unified["memory.high"] != "1000000" {
		t.Errorf("fields lost in conversion: %+v", r)
	}
	// Unset swappiness written as -1 by Go clients is unset.
	r, _ = Resources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(^uint64(0))}})
	if r.MemorySwappiness != nil {
		t.Errorf("swappiness -1 should be unset, got %d", *r.MemorySwappiness)
	}
}

func TestResourcesRefusals(t *testing.T) {
	for field, r := range map[string]*specs.LinuxResources{
		"linux.resources.memory.kernel":       {Memory: &specs.LinuxMemory{Kernel: i64(1)}},
		"linux.resources.memory.kernelTCP":    {Memory: &specs.LinuxMemory{KernelTCP: i64(1)}},
		"linux.resources.memory.swap":         {Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}},
		"linux.resources.memory.swappiness":   {Memory: &specs.LinuxMemory{Swappiness: u64(101)}},
		"linux.resources.memory.limit":        {Memory: &specs.LinuxMemory{Limit: i64(-2)}},
		"linux.resources.cpu.shares":          {CPU: &specs.LinuxCPU{Shares: u64(1)}},
		"linux.resources.cpu.quota":           {CPU: &specs.LinuxCPU{Quota: i64(10)}},
		"linux.resources.cpu.period":          {CPU: &specs.LinuxCPU{Period: u64(10)}},
		"linux.resources.cpu.cpus":            {CPU: &specs.LinuxCPU{Cpus: "1-0"}},
		"linux.resources.cpu.mems":            {CPU: &specs.LinuxCPU{Mems: "x"}},
		"linux.resources.cpu.idle":            {CPU: &specs.LinuxCPU{Idle: i64(2)}},
		"linux.resources.pids.limit":          {Pids: &specs.LinuxPids{Limit: i64(-5)}},
		"linux.resources.blockIO.weight":      {BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}},
		"linux.resources.hugepageLimits[0]":   {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}},
		"linux.resources.devices[0]":          {Devices: []specs.LinuxDeviceCgroup{{Type: "q"}}},
		"linux.resources.unified":             {Unified: map[string]string{"../x": "1"}},
		"linux.resources.memory.useHierarchy": {Memory: &specs.LinuxMemory{UseHierarchy: new(bool)}},
	} {
		if _, err := Resources(r); err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("%s: got %v, want an error naming it", field, err)
		}
	}
}

// The spec's rules come first and runc's defaults after: a deny-all config
// still leaves /dev/null usable.
func TestDeviceRules(t *testing.T) {
	r, err := Resources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "w"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Devices) != 2+len(DefaultDevices) {
		t.Fatalf("%d rules, want 2 + %d defaults", len(r.Devices), len(DefaultDevices))
	}
	first, second := r.Devices[0], r.Devices[1]
	if first.Allow || first.Type != devcfg.WildcardDevice || first.Major != devcfg.Wildcard || first.Permissions != "rwm" {
		t.Errorf("deny-all rule converted to %+v", first)
	}
	if !second.Allow || second.Type != devcfg.CharDevice || second.Major != 1 || second.Minor != 11 || second.Permissions != "w" {
		t.Errorf("kmsg rule converted to %+v", second)
	}
}

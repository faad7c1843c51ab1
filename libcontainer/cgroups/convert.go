// Package cgroups places containers in their cgroups and applies
// linux.resources, through github.com/opencontainers/cgroups (the library
// runc uses: fs for v1, fs2 for v2, the eBPF device filter). This file is
// the adapter from the runtime-spec's types to the library's: it needs no
// host and every error names the spec field it refuses.
package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	cg "github.com/opencontainers/cgroups"
	devcfg "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config converts the container's cgroupsPath and resources. With systemd
// (--systemd-cgroup) the path names a scope (systemd_path.go). Otherwise
// it follows runc's cgroupfs driver: an absolute cgroupsPath is used as is
// below each hierarchy's root; a relative one lands below the caller's own
// cgroup; an empty one is the container's ID below the caller's cgroup.
func Config(id string, s *specs.Spec, d Driver) (*cg.Cgroup, error) {
	c := &cg.Cgroup{}
	var path string
	var r *specs.LinuxResources
	if s != nil && s.Linux != nil {
		path = s.Linux.CgroupsPath
		r = s.Linux.Resources
	}
	if d.systemd() {
		if err := systemdPath(c, id, path, d == SystemdUser); err != nil {
			return nil, err
		}
	} else if path != "" {
		// As runc's CleanPath: ".." cannot climb above the root (or above
		// the caller's cgroup, for a relative path).
		if filepath.IsAbs(path) {
			path = filepath.Clean(path)
		} else {
			path = strings.TrimPrefix(filepath.Clean("/"+path), "/")
		}
		if path == "/" || path == "" || path == "." {
			return nil, fmt.Errorf("linux.cgroupsPath %q: names the root cgroup; expected a cgroup of the container's own", s.Linux.CgroupsPath)
		}
		c.Path = path
	} else {
		c.Name = id
	}
	res, err := Resources(r)
	if err != nil {
		return nil, err
	}
	c.Resources = res
	return c, nil
}

// DefaultDevices are allowed after the spec's own rules, as runc does: the
// devices every container's /dev holds, and mknod of any device (opening
// one still needs a rule).
var DefaultDevices = []*devcfg.Rule{
	{Type: devcfg.CharDevice, Major: devcfg.Wildcard, Minor: devcfg.Wildcard, Permissions: "m", Allow: true},
	{Type: devcfg.BlockDevice, Major: devcfg.Wildcard, Minor: devcfg.Wildcard, Permissions: "m", Allow: true},
	{Type: devcfg.CharDevice, Major: 1, Minor: 3, Permissions: "rwm", Allow: true},                 // /dev/null
	{Type: devcfg.CharDevice, Major: 1, Minor: 8, Permissions: "rwm", Allow: true},                 // /dev/random
	{Type: devcfg.CharDevice, Major: 1, Minor: 7, Permissions: "rwm", Allow: true},                 // /dev/full
	{Type: devcfg.CharDevice, Major: 5, Minor: 0, Permissions: "rwm", Allow: true},                 // /dev/tty
	{Type: devcfg.CharDevice, Major: 1, Minor: 5, Permissions: "rwm", Allow: true},                 // /dev/zero
	{Type: devcfg.CharDevice, Major: 1, Minor: 9, Permissions: "rwm", Allow: true},                 // /dev/urandom
	{Type: devcfg.CharDevice, Major: 136, Minor: devcfg.Wildcard, Permissions: "rwm", Allow: true}, // /dev/pts/*
	{Type: devcfg.CharDevice, Major: 5, Minor: 2, Permissions: "rwm", Allow: true},                 // /dev/ptmx
}

// Resources converts linux.resources (nil: no limits, default devices).
// Values are checked here, independently of the host; whether the host's
// cgroups can honour each field is checked by the Manager.
func Resources(r *specs.LinuxResources) (*cg.Resources, error) {
	res := &cg.Resources{}
	if r == nil {
		r = &specs.LinuxResources{}
	}
	for i, d := range r.Devices {
		rule, err := deviceRule(d)
		if err != nil {
			return nil, fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		res.Devices = append(res.Devices, rule)
	}
	for _, d := range DefaultDevices {
		rule := *d
		res.Devices = append(res.Devices, &rule)
	}
	if err := memory(r.Memory, res); err != nil {
		return nil, err
	}
	if err := cpu(r.CPU, res); err != nil {
		return nil, err
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		l := *r.Pids.Limit
		if l < -1 {
			return nil, fmt.Errorf("linux.resources.pids.limit: %d: expected -1 (no limit) or a count >= 0", l)
		}
		res.PidsLimit = &l
	}
	if err := blockIO(r.BlockIO, res); err != nil {
		return nil, err
	}
	for i, h := range r.HugepageLimits {
		if !hugepageSize(h.Pagesize) {
			return nil, fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize: %q: expected a size such as 2MB or 1GB", i, h.Pagesize)
		}
		res.HugetlbLimit = append(res.HugetlbLimit, &cg.HugepageLimit{Pagesize: h.Pagesize, Limit: h.Limit})
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			res.NetClsClassid = *n.ClassID
		}
		for i, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " /\n") {
				return nil, fmt.Errorf("linux.resources.network.priorities[%d].name: %q is not an interface name", i, p.Name)
			}
			res.NetPrioIfpriomap = append(res.NetPrioIfpriomap, &cg.IfPrioMap{Interface: p.Name, Priority: int64(p.Priority)})
		}
	}
	for dev, l := range r.Rdma {
		if dev == "" || strings.ContainsAny(dev, " \n") {
			return nil, fmt.Errorf("linux.resources.rdma: %q is not an RDMA device name", dev)
		}
		if res.Rdma == nil {
			res.Rdma = map[string]cg.LinuxRdma{}
		}
		res.Rdma[dev] = cg.LinuxRdma{HcaHandles: l.HcaHandles, HcaObjects: l.HcaObjects}
	}
	for k, v := range r.Unified {
		if k == "" || strings.Contains(k, "/") || k == "." || k == ".." || !strings.Contains(k, ".") {
			return nil, fmt.Errorf("linux.resources.unified: key %q: expected a cgroup v2 file name such as memory.high", k)
		}
		if res.Unified == nil {
			res.Unified = map[string]string{}
		}
		res.Unified[k] = v
	}
	return res, nil
}

// hugepageSize reports whether s is a hugetlb page size as the cgroup files
// name it: a number without leading zeros, then KB, MB or GB. Not a regexp: a
// package-level one would be compiled at every strata start.
func hugepageSize(s string) bool {
	num, ok := strings.CutSuffix(s, "B")
	if !ok || len(num) < 2 || !strings.ContainsRune("KMG", rune(num[len(num)-1])) {
		return false
	}
	num = num[:len(num)-1]
	if num[0] == '0' {
		return false
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func memory(m *specs.LinuxMemory, res *cg.Resources) error {
	if m == nil {
		return nil
	}
	limitOK := func(field string, v *int64) (int64, error) {
		if v == nil {
			return 0, nil
		}
		if *v < -1 {
			return 0, fmt.Errorf("linux.resources.memory.%s: %d: expected -1 (no limit) or a byte count", field, *v)
		}
		return *v, nil
	}
	var err error
	if res.Memory, err = limitOK("limit", m.Limit); err != nil {
		return err
	}
	if res.MemoryReservation, err = limitOK("reservation", m.Reservation); err != nil {
		return err
	}
	if res.MemorySwap, err = limitOK("swap", m.Swap); err != nil {
		return err
	}
	if res.Memory > 0 && res.MemorySwap > 0 && res.MemorySwap < res.Memory {
		return fmt.Errorf("linux.resources.memory.swap: %d is below memory.limit %d (swap is the memory+swap total)", res.MemorySwap, res.Memory)
	}
	if m.Kernel != nil {
		return fmt.Errorf("linux.resources.memory.kernel: kernel memory limits are not supported (deprecated by the runtime-spec, and the kernel no longer enforces them)")
	}
	if m.KernelTCP != nil {
		return fmt.Errorf("linux.resources.memory.kernelTCP: kernel TCP memory limits are not supported (deprecated by the runtime-spec)")
	}
	if m.Swappiness != nil {
		// -1 as uint64 is what Go clients write for "unset".
		if int64(*m.Swappiness) != -1 {
			if *m.Swappiness > 100 {
				return fmt.Errorf("linux.resources.memory.swappiness: %d: expected 0 to 100", *m.Swappiness)
			}
			v := *m.Swappiness
			res.MemorySwappiness = &v
		}
	}
	if m.DisableOOMKiller != nil {
		res.OomKillDisable = *m.DisableOOMKiller
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy {
		return fmt.Errorf("linux.resources.memory.useHierarchy: false is not supported: the kernel's memory cgroups are always hierarchical")
	}
	if m.CheckBeforeUpdate != nil {
		res.MemoryCheckBeforeUpdate = *m.CheckBeforeUpdate
	}
	return nil
}

func cpu(c *specs.LinuxCPU, res *cg.Resources) error {
	if c == nil {
		return nil
	}
	if c.Shares != nil {
		if s := *c.Shares; s != 0 && (s < 2 || s > 262144) {
			return fmt.Errorf("linux.resources.cpu.shares: %d: expected 2 to 262144", s)
		}
		res.CpuShares = *c.Shares
		// cgroup v2 has cpu.weight instead: converted as runc does.
		res.CpuWeight = cg.ConvertCPUSharesToCgroupV2Value(res.CpuShares)
	}
	if c.Quota != nil {
		if q := *c.Quota; q != -1 && q != 0 && q < 1000 {
			return fmt.Errorf("linux.resources.cpu.quota: %d: expected -1 (no limit) or at least 1000 microseconds", q)
		}
		res.CpuQuota = *c.Quota
	}
	if c.Period != nil {
		if p := *c.Period; p != 0 && (p < 1000 || p > 1000000) {
			return fmt.Errorf("linux.resources.cpu.period: %d: expected 1000 to 1000000 microseconds", p)
		}
		res.CpuPeriod = *c.Period
	}
	if c.Burst != nil {
		b := *c.Burst
		res.CpuBurst = &b
	}
	if c.RealtimeRuntime != nil {
		res.CpuRtRuntime = *c.RealtimeRuntime
	}
	if c.RealtimePeriod != nil {
		res.CpuRtPeriod = *c.RealtimePeriod
	}
	if c.Cpus != "" {
		if err := checkList(c.Cpus); err != nil {
			return fmt.Errorf("linux.resources.cpu.cpus: %q: %w", c.Cpus, err)
		}
		res.CpusetCpus = c.Cpus
	}
	if c.Mems != "" {
		if err := checkList(c.Mems); err != nil {
			return fmt.Errorf("linux.resources.cpu.mems: %q: %w", c.Mems, err)
		}
		res.CpusetMems = c.Mems
	}
	if c.Idle != nil {
		if i := *c.Idle; i != 0 && i != 1 {
			return fmt.Errorf("linux.resources.cpu.idle: %d: expected 0 or 1", i)
		}
		v := *c.Idle
		res.CPUIdle = &v
	}
	return nil
}

// checkList accepts the kernel's list format: "0-3,5,7-8".
func checkList(s string) error {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || b < a {
			return fmt.Errorf("expected a list such as 0-3,5 (got %q)", part)
		}
	}
	return nil
}

func blockIO(b *specs.LinuxBlockIO, res *cg.Resources) error {
	if b == nil {
		return nil
	}
	weight := func(field string, w *uint16) (uint16, error) {
		if w == nil || *w == 0 {
			return 0, nil
		}
		if *w < 10 || *w > 1000 {
			return 0, fmt.Errorf("linux.resources.blockIO.%s: %d: expected 10 to 1000", field, *w)
		}
		return *w, nil
	}
	var err error
	if res.BlkioWeight, err = weight("weight", b.Weight); err != nil {
		return err
	}
	if res.BlkioLeafWeight, err = weight("leafWeight", b.LeafWeight); err != nil {
		return err
	}
	for i, d := range b.WeightDevice {
		w, err := weight(fmt.Sprintf("weightDevice[%d].weight", i), d.Weight)
		if err != nil {
			return err
		}
		lw, err := weight(fmt.Sprintf("weightDevice[%d].leafWeight", i), d.LeafWeight)
		if err != nil {
			return err
		}
		if w == 0 && lw == 0 {
			return fmt.Errorf("linux.resources.blockIO.weightDevice[%d]: expected weight or leafWeight", i)
		}
		res.BlkioWeightDevice = append(res.BlkioWeightDevice, cg.NewWeightDevice(d.Major, d.Minor, w, lw))
	}
	throttle := func(ds []specs.LinuxThrottleDevice) []*cg.ThrottleDevice {
		var out []*cg.ThrottleDevice
		for _, d := range ds {
			out = append(out, cg.NewThrottleDevice(d.Major, d.Minor, d.Rate))
		}
		return out
	}
	res.BlkioThrottleReadBpsDevice = throttle(b.ThrottleReadBpsDevice)
	res.BlkioThrottleWriteBpsDevice = throttle(b.ThrottleWriteBpsDevice)
	res.BlkioThrottleReadIOPSDevice = throttle(b.ThrottleReadIOPSDevice)
	res.BlkioThrottleWriteIOPSDevice = throttle(b.ThrottleWriteIOPSDevice)
	return nil
}

func deviceRule(d specs.LinuxDeviceCgroup) (*devcfg.Rule, error) {
	r := &devcfg.Rule{Allow: d.Allow, Major: devcfg.Wildcard, Minor: devcfg.Wildcard}
	switch d.Type {
	case "", "a":
		r.Type = devcfg.WildcardDevice
	case "c":
		r.Type = devcfg.CharDevice
	case "b":
		r.Type = devcfg.BlockDevice
	default:
		return nil, fmt.Errorf("type %q: expected a, b or c", d.Type)
	}
	if d.Major != nil {
		r.Major = *d.Major
	}
	if d.Minor != nil {
		r.Minor = *d.Minor
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	for _, a := range access {
		if a != 'r' && a != 'w' && a != 'm' {
			return nil, fmt.Errorf("access %q: expected letters from rwm", d.Access)
		}
	}
	r.Permissions = devcfg.Permissions(access)
	return r, nil
}

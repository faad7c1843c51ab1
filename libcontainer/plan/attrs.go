package plan

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The process attributes that are one syscall each: process.scheduler,
// process.ioPriority, process.execCPUAffinity.final, linux.personality and
// linux.memoryPolicy. All of them are per thread and survive execve; some
// need privileges the capability drop takes away, so they come early.

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10,
	specs.SchedFlagUtilClampMin: 0x20, specs.SchedFlagUtilClampMax: 0x40,
}

var ioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

var mpolModes = map[specs.MemoryPolicyModeType]int{
	specs.MpolDefault: 0, specs.MpolPreferred: 1, specs.MpolBind: 2, specs.MpolInterleave: 3,
	specs.MpolLocal: 4, specs.MpolPreferredMany: 5, specs.MpolWeightedInterleave: 6,
}

var mpolFlags = map[specs.MemoryPolicyFlagType]int{
	specs.MpolFNumaBalancing: 1 << 13, specs.MpolFRelativeNodes: 1 << 14, specs.MpolFStaticNodes: 1 << 15,
}

// maxNodes and maxCPUs bound the masks (the kernel's usual
// CONFIG_NODES_SHIFT and glibc's cpu_set_t).
const (
	maxNodes = 1024
	maxCPUs  = 1024
)

// ValidateAttributes checks the attributes, naming the field at fault.
func ValidateAttributes(spec *specs.Spec) error {
	var p Plan
	return p.attributes(spec, true)
}

// attributes adds the attribute steps of spec's process. Only an exec'd
// process takes execCPUAffinity.final: the container's init is placed by
// its cgroup's cpuset alone.
func (p *Plan) attributes(spec *specs.Spec, exec bool) error {
	if pr := spec.Process; pr != nil {
		if err := p.scheduler(pr.Scheduler); err != nil {
			return err
		}
		if io := pr.IOPriority; io != nil {
			class, ok := ioClasses[io.Class]
			if !ok {
				return fmt.Errorf("process.ioPriority.class: unknown class %q", io.Class)
			}
			if io.Priority < 0 || io.Priority > 7 {
				return fmt.Errorf("process.ioPriority.priority: %d is not in 0..7", io.Priority)
			}
			p.add(OpIOPrio, "process.ioPriority: ioprio_set", I(class<<13|int(io.Priority)))
		}
		if aff := pr.ExecCPUAffinity; aff != nil {
			if _, err := ParseCPUs("process.execCPUAffinity.initial", aff.Initial); err != nil {
				return err
			}
			mask, err := ParseCPUs("process.execCPUAffinity.final", aff.Final)
			if err != nil {
				return err
			}
			if exec && mask != nil {
				p.add(OpAffinity, "process.execCPUAffinity.final: sched_setaffinity", B(maskBytes(mask)))
			}
		}
	}
	l := spec.Linux
	if l == nil {
		return nil
	}
	if pers := l.Personality; pers != nil {
		var persona int
		switch pers.Domain {
		case specs.PerLinux:
			persona = 0x0000
		case specs.PerLinux32:
			persona = 0x0008
		default:
			return fmt.Errorf("linux.personality.domain: unknown domain %q (LINUX or LINUX32)", pers.Domain)
		}
		if len(pers.Flags) > 0 {
			return fmt.Errorf("linux.personality.flags[0]: %q: no personality flag is supported", pers.Flags[0])
		}
		p.add(OpPersonality, "linux.personality", I(persona))
	}
	return p.memoryPolicy(l.MemoryPolicy)
}

func (p *Plan) scheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	policy, ok := schedPolicies[s.Policy]
	if !ok {
		return fmt.Errorf("process.scheduler.policy: unknown policy %q", s.Policy)
	}
	if s.Priority < 0 {
		return fmt.Errorf("process.scheduler.priority: %d is negative", s.Priority)
	}
	var flags uint64
	for i, f := range s.Flags {
		b, ok := schedFlags[f]
		if !ok {
			return fmt.Errorf("process.scheduler.flags[%d]: unknown flag %q", i, f)
		}
		flags |= b
	}
	p.add(OpSched, "process.scheduler: sched_setattr",
		I(policy), I(flags), I(int64(s.Nice)), I(s.Priority), I(s.Runtime), I(s.Deadline), I(s.Period))
	return nil
}

func (p *Plan) memoryPolicy(m *specs.LinuxMemoryPolicy) error {
	if m == nil {
		return nil
	}
	mode, ok := mpolModes[m.Mode]
	if !ok {
		return fmt.Errorf("linux.memoryPolicy.mode: unknown mode %q", m.Mode)
	}
	for i, f := range m.Flags {
		b, ok := mpolFlags[f]
		if !ok {
			return fmt.Errorf("linux.memoryPolicy.flags[%d]: unknown flag %q", i, f)
		}
		mode |= b
	}
	nodes, err := parseList("linux.memoryPolicy.nodes", m.Nodes, maxNodes)
	if err != nil {
		return err
	}
	switch m.Mode {
	case specs.MpolDefault, specs.MpolLocal:
		if len(nodes) > 0 {
			return fmt.Errorf("linux.memoryPolicy.nodes: %s takes no nodes", m.Mode)
		}
	case specs.MpolBind, specs.MpolInterleave, specs.MpolWeightedInterleave, specs.MpolPreferredMany:
		if len(nodes) == 0 {
			return fmt.Errorf("linux.memoryPolicy.nodes: %s needs at least one node", m.Mode)
		}
	}
	var mask []byte
	if len(nodes) > 0 {
		mask = maskBytes(nodes)
	}
	p.add(OpMempolicy, "linux.memoryPolicy: set_mempolicy", I(mode), B(mask))
	return nil
}

// maskBytes is a kernel bitmap of the numbers in bits: 64 a word,
// little-endian words, 1024 bits.
func maskBytes(bits []int) []byte {
	words := make([]uint64, maxCPUs/64)
	for _, n := range bits {
		words[n/64] |= 1 << (n % 64)
	}
	b := make([]byte, 0, len(words)*8)
	for _, w := range words {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// ParseCPUs parses a CPU list such as "0-3,7" (nil for "").
func ParseCPUs(field, s string) ([]int, error) {
	cpus, err := parseList(field, s, maxCPUs)
	if err != nil || len(cpus) == 0 {
		return nil, err
	}
	return cpus, nil
}

// parseList parses the kernel's list format ("0-3,7"), numbers below limit.
func parseList(field, s string, limit int) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= limit {
			return nil, fmt.Errorf("%s: bad list %q (expected numbers below %d like 0-3,7)", field, s, limit)
		}
		for n := a; n <= b; n++ {
			out = append(out, n)
		}
	}
	return out, nil
}

// MemoryPolicyModes and MemoryPolicyFlags list what linux.memoryPolicy
// may use, for `features`.
func MemoryPolicyModes() []string { return sortedKeys(mpolModes) }

func MemoryPolicyFlags() []string { return sortedKeys(mpolFlags) }

func sortedKeys[K ~string, V any](m map[K]V) []string {
	var l []string
	for k := range m {
		l = append(l, string(k))
	}
	sort.Strings(l)
	return l
}

package libcontainer

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The process attributes that are one syscall each: process.scheduler,
// process.ioPriority, process.execCPUAffinity, linux.personality and
// linux.memoryPolicy. ValidateAttributes checks them (and refuses what
// strata does not implement) in the parent, before anything is made;
// applyAttributes sets them in the init, on the thread that will execve
// the program (all of them are per thread and survive execve).

// attributes is the attribute part of a spec, converted to syscall
// arguments.
type attributes struct {
	sched    *unix.SchedAttr
	ioprio   int
	hasIO    bool
	affinity *unix.CPUSet // execCPUAffinity.final (exec'd processes only)
	persona  int
	hasPers  bool
	mpolMode int
	mpolMask []uint64 // nodemask, 64 nodes a word
	hasMpol  bool
}

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

// maxNodes bounds the node numbers memoryPolicy.nodes may name.
const maxNodes = 1024

// newAttributes converts and checks; exec tells whether the process is
// exec'd (execCPUAffinity applies to those only).
func newAttributes(spec *specs.Spec, exec bool) (*attributes, error) {
	a := &attributes{}
	if p := spec.Process; p != nil {
		if s := p.Scheduler; s != nil {
			policy, ok := schedPolicies[s.Policy]
			if !ok {
				return nil, fmt.Errorf("process.scheduler.policy: unknown policy %q", s.Policy)
			}
			attr := &unix.SchedAttr{Policy: policy, Nice: s.Nice, Priority: uint32(s.Priority),
				Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
			if s.Priority < 0 {
				return nil, fmt.Errorf("process.scheduler.priority: %d is negative", s.Priority)
			}
			for i, f := range s.Flags {
				b, ok := schedFlags[f]
				if !ok {
					return nil, fmt.Errorf("process.scheduler.flags[%d]: unknown flag %q", i, f)
				}
				attr.Flags |= b
			}
			a.sched = attr
		}
		if io := p.IOPriority; io != nil {
			class, ok := ioClasses[io.Class]
			if !ok {
				return nil, fmt.Errorf("process.ioPriority.class: unknown class %q", io.Class)
			}
			if io.Priority < 0 || io.Priority > 7 {
				return nil, fmt.Errorf("process.ioPriority.priority: %d is not in 0..7", io.Priority)
			}
			a.ioprio, a.hasIO = class<<13|int(io.Priority), true
		}
		if aff := p.ExecCPUAffinity; aff != nil {
			if _, err := parseCPUs("process.execCPUAffinity.initial", aff.Initial); err != nil {
				return nil, err
			}
			set, err := parseCPUs("process.execCPUAffinity.final", aff.Final)
			if err != nil {
				return nil, err
			}
			// "not applicable to the container's init process"
			if exec {
				a.affinity = set
			}
		}
	}
	l := spec.Linux
	if l == nil {
		return a, nil
	}
	if pers := l.Personality; pers != nil {
		switch pers.Domain {
		case specs.PerLinux:
			a.persona = 0x0000
		case specs.PerLinux32:
			a.persona = 0x0008
		default:
			return nil, fmt.Errorf("linux.personality.domain: unknown domain %q (LINUX or LINUX32)", pers.Domain)
		}
		if len(pers.Flags) > 0 {
			return nil, fmt.Errorf("linux.personality.flags[0]: %q: no personality flag is supported", pers.Flags[0])
		}
		a.hasPers = true
	}
	if m := l.MemoryPolicy; m != nil {
		mode, ok := mpolModes[m.Mode]
		if !ok {
			return nil, fmt.Errorf("linux.memoryPolicy.mode: unknown mode %q", m.Mode)
		}
		for i, f := range m.Flags {
			b, ok := mpolFlags[f]
			if !ok {
				return nil, fmt.Errorf("linux.memoryPolicy.flags[%d]: unknown flag %q", i, f)
			}
			mode |= b
		}
		nodes, err := parseList("linux.memoryPolicy.nodes", m.Nodes, maxNodes)
		if err != nil {
			return nil, err
		}
		switch m.Mode {
		case specs.MpolDefault, specs.MpolLocal:
			if len(nodes) > 0 {
				return nil, fmt.Errorf("linux.memoryPolicy.nodes: %s takes no nodes", m.Mode)
			}
		case specs.MpolBind, specs.MpolInterleave, specs.MpolWeightedInterleave, specs.MpolPreferredMany:
			if len(nodes) == 0 {
				return nil, fmt.Errorf("linux.memoryPolicy.nodes: %s needs at least one node", m.Mode)
			}
		}
		if len(nodes) > 0 {
			a.mpolMask = make([]uint64, maxNodes/64)
			for _, n := range nodes {
				a.mpolMask[n/64] |= 1 << (n % 64)
			}
		}
		a.mpolMode, a.hasMpol = mode, true
	}
	return a, nil
}

// ValidateAttributes checks the attributes above and refuses the
// runtime-spec features strata does not implement, naming the field.
func ValidateAttributes(spec *specs.Spec) error {
	if _, err := newAttributes(spec, true); err != nil {
		return err
	}
	if l := spec.Linux; l != nil {
		if l.IntelRdt != nil {
			return errors.New("linux.intelRdt: Intel RDT (resctrl) is not supported by strata")
		}
		if err := validateNetDevices(spec); err != nil {
			return err
		}
	}
	_, err := planLSM(spec)
	return err
}

// applyAttributes sets them on the calling thread, still privileged.
func applyAttributes(a *attributes) error {
	if a.sched != nil {
		if err := unix.SchedSetAttr(0, a.sched, 0); err != nil {
			return fmt.Errorf("process.scheduler: sched_setattr: %w", err)
		}
	}
	if a.hasIO {
		const ioprioWhoProcess = 1
		if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(a.ioprio)); errno != 0 {
			return fmt.Errorf("process.ioPriority: ioprio_set: %w", errno)
		}
	}
	if a.affinity != nil {
		if err := unix.SchedSetaffinity(0, a.affinity); err != nil {
			return fmt.Errorf("process.execCPUAffinity.final: sched_setaffinity: %w", err)
		}
	}
	if a.hasPers {
		if _, _, errno := unix.Syscall(unix.SYS_PERSONALITY, uintptr(a.persona), 0, 0); errno != 0 {
			return fmt.Errorf("linux.personality: %w", errno)
		}
	}
	if a.hasMpol {
		var mask unsafe.Pointer
		var maxnode uintptr
		if len(a.mpolMask) > 0 {
			mask, maxnode = unsafe.Pointer(&a.mpolMask[0]), uintptr(len(a.mpolMask)*64)
		}
		if _, _, errno := unix.Syscall(unix.SYS_SET_MEMPOLICY, uintptr(a.mpolMode), uintptr(mask), maxnode); errno != 0 {
			return fmt.Errorf("linux.memoryPolicy: set_mempolicy: %w", errno)
		}
	}
	return nil
}

// parseCPUs parses a cpu list ("0-3,7") into a set; nil for "".
func parseCPUs(field, s string) (*unix.CPUSet, error) {
	cpus, err := parseList(field, s, 1024)
	if err != nil || len(cpus) == 0 {
		return nil, err
	}
	set := &unix.CPUSet{}
	for _, c := range cpus {
		set.Set(c)
	}
	return set, nil
}

// parseList parses "0-3,7" into numbers below limit.
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

// applyInitialAffinity runs fn on the calling thread with
// process.execCPUAffinity.initial in force, so that the process fn starts
// inherits it: "the CPUs a runtime parent process runs on before the
// transition to the container's cgroup". The thread's own affinity is
// restored afterwards. The caller holds its OS thread.
func applyInitialAffinity(p *specs.Process, fn func() error) error {
	if p == nil || p.ExecCPUAffinity == nil || p.ExecCPUAffinity.Initial == "" {
		return fn()
	}
	set, err := parseCPUs("process.execCPUAffinity.initial", p.ExecCPUAffinity.Initial)
	if err != nil {
		return err
	}
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("process.execCPUAffinity.initial: %w", err)
	}
	if err := unix.SchedSetaffinity(0, set); err != nil {
		return fmt.Errorf("process.execCPUAffinity.initial: sched_setaffinity: %w", err)
	}
	defer unix.SchedSetaffinity(0, &old)
	return fn()
}

// processExtras is what prepareProcess sets beyond process's own
// identity fields: the attributes above, the LSM labels and the seccomp
// filter, each converted before the process starts changing.
type processExtras struct {
	attrs  *attributes
	lsm    lsmPlan
	filter *seccompLoader
}

func newProcessExtras(spec *specs.Spec, exec bool, lsm lsmPlan, filter *seccompLoader) (*processExtras, error) {
	attrs, err := newAttributes(spec, exec)
	if err != nil {
		return nil, err
	}
	return &processExtras{attrs: attrs, lsm: lsm, filter: filter}, nil
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

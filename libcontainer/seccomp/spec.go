// Package seccomp turns a runtime-spec linux.seccomp section into a
// classic BPF program and loads it.
//
// The work is split by cost and by who does it:
//
//   - Check (this file, pure Go) validates every field and names the one
//     that is wrong: actions, architectures, operators, flags, errnoRet.
//   - Compile (compile.go, libseccomp through cgo) builds the filter and
//     exports its BPF. Unknown syscall names are skipped with a warning, as
//     runc does, so one profile serves kernels and libseccomps of all ages.
//   - Cached (cache.go) compiles a profile once per --root: the BPF is
//     stored under <root>/.seccomp/<sha256>.bpf, keyed by the profile, the
//     libseccomp version and the architecture; a hit reads a file and never
//     builds a libseccomp filter (crun does the same).
//   - Load (load_linux.go) is a single seccomp(2) call with the BPF; the
//     container init's exec stage (nsenter/execstage.c) does the same in C
//     right before execve.
//
// Compilation happens in the parent (`strata create`, `run`, `exec`); the
// container init only receives the BPF.
package seccomp

import (
	"fmt"
	"slices"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Kernel constants of seccomp(2) (linux/seccomp.h).
const (
	SetModeFilter = 1

	FlagTsync            = 1 << 0
	FlagLog              = 1 << 1
	FlagSpecAllow        = 1 << 2
	FlagNewListener      = 1 << 3
	FlagTsyncEsrch       = 1 << 4
	FlagWaitKillableRecv = 1 << 5
)

// Program is a compiled filter as the container init needs it.
type Program struct {
	// BPF is the filter: struct sock_filter instructions, 8 bytes each,
	// in native byte order.
	BPF []byte `json:"bpf"`
	// Flags are the seccomp(2) flags from linux.seccomp.flags.
	Flags uint `json:"flags,omitempty"`
	// Notify is set when a rule (or the default) uses SCMP_ACT_NOTIFY: the
	// filter must be loaded where its listener fd can reach the parent.
	Notify bool `json:"notify,omitempty"`
}

// Action names as config-linux.md spells them.
const (
	actKill        = "SCMP_ACT_KILL"
	actKillProcess = "SCMP_ACT_KILL_PROCESS"
	actKillThread  = "SCMP_ACT_KILL_THREAD"
	actTrap        = "SCMP_ACT_TRAP"
	actErrno       = "SCMP_ACT_ERRNO"
	actTrace       = "SCMP_ACT_TRACE"
	actAllow       = "SCMP_ACT_ALLOW"
	actLog         = "SCMP_ACT_LOG"
	actNotify      = "SCMP_ACT_NOTIFY"
)

// The package's lookup tables are slices of constant pairs, not maps: the
// linker lays them out, where a map would be built by the package
// initialiser, which every strata start pays for (state, kill and delete too).
// They are small enough to search in order.

// table is a lookup table of constant pairs.
type table[K comparable, V any] []struct {
	k K
	v V
}

// get returns the value for k.
func (t table[K, V]) get(k K) (V, bool) {
	for _, e := range t {
		if e.k == k {
			return e.v, true
		}
	}
	var zero V
	return zero, false
}

// keys returns t's keys as sorted strings, for `features`.
func keys[K ~string, V any](t table[K, V]) []string {
	l := make([]string, 0, len(t))
	for _, e := range t {
		l = append(l, string(e.k))
	}
	sort.Strings(l)
	return l
}

// sorted returns l as sorted strings, for `features`.
func sorted[S ~string](l []S) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = string(s)
	}
	sort.Strings(out)
	return out
}

var knownActions = []specs.LinuxSeccompAction{
	actKill, actKillProcess, actKillThread, actTrap, actErrno, actTrace, actAllow, actLog, actNotify,
}

// flagBits maps linux.seccomp.flags to seccomp(2) flags.
var flagBits = table[specs.LinuxSeccompFlag, uint]{
	{"SECCOMP_FILTER_FLAG_TSYNC", FlagTsync},
	{"SECCOMP_FILTER_FLAG_LOG", FlagLog},
	{"SECCOMP_FILTER_FLAG_SPEC_ALLOW", FlagSpecAllow},
	{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", FlagWaitKillableRecv},
}

// Flags lists the linux.seccomp.flags strata knows, for `features`.
func Flags() []string { return keys(flagBits) }

// Actions lists the actions strata knows, for `features`.
func Actions() []string { return sorted(knownActions) }

// Operators lists the argument operators strata knows, for `features`.
func Operators() []string { return sorted(knownOps) }

var knownOps = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// Check validates the section without libseccomp; every error names its
// field. It is cheap, so it runs even when the compiled filter is cached.
func Check(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	if err := checkAction("linux.seccomp.defaultAction", s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultErrnoRet"); err != nil {
		return err
	}
	for i, a := range s.Architectures {
		if _, ok := archNames.get(a); !ok {
			return fmt.Errorf("linux.seccomp.architectures[%d]: unknown architecture %q", i, a)
		}
	}
	if _, err := KernelFlags(s); err != nil {
		return err
	}
	if s.ListenerMetadata != "" && s.ListenerPath == "" {
		return fmt.Errorf("linux.seccomp.listenerMetadata: set without linux.seccomp.listenerPath")
	}
	if s.DefaultAction == actNotify {
		// Every syscall of the init after loading, execve included, would
		// wait for the agent: runc refuses it too.
		return fmt.Errorf("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
	}
	notify := false
	for i, sc := range s.Syscalls {
		f := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if len(sc.Names) == 0 {
			return fmt.Errorf("%s.names: must name at least one syscall", f)
		}
		for j, n := range sc.Names {
			if n == "" {
				return fmt.Errorf("%s.names[%d]: empty syscall name", f, j)
			}
			if n == "write" && sc.Action == actNotify {
				// The init reports to strata with write after loading the
				// filter: it would wait for an agent that waits for it.
				// runc refuses it too.
				return fmt.Errorf("%s.names[%d]: SCMP_ACT_NOTIFY cannot be used for write (the runtime itself writes after the filter is loaded)", f, j)
			}
		}
		if err := checkAction(f+".action", sc.Action, sc.ErrnoRet, f+".errnoRet"); err != nil {
			return err
		}
		for j, a := range sc.Args {
			af := fmt.Sprintf("%s.args[%d]", f, j)
			if !slices.Contains(knownOps, a.Op) {
				return fmt.Errorf("%s.op: unknown operator %q", af, a.Op)
			}
			if a.Index > 5 {
				return fmt.Errorf("%s.index: %d is not a syscall argument (0 to 5)", af, a.Index)
			}
		}
		notify = notify || sc.Action == actNotify
	}
	if notify && s.ListenerPath == "" {
		return fmt.Errorf("linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a listener to send the notify fd to")
	}
	return nil
}

func checkAction(field string, a specs.LinuxSeccompAction, errnoRet *uint, errnoField string) error {
	if !slices.Contains(knownActions, a) {
		return fmt.Errorf("%s: unknown action %q", field, a)
	}
	if errnoRet != nil {
		if a != actErrno && a != actTrace {
			return fmt.Errorf("%s: %s takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)", errnoField, a)
		}
		if *errnoRet > 0xffff {
			return fmt.Errorf("%s: %d is out of range", errnoField, *errnoRet)
		}
	}
	return nil
}

// KernelFlags returns the seccomp(2) flags linux.seccomp.flags asks for.
func KernelFlags(s *specs.LinuxSeccomp) (uint, error) {
	var bits uint
	for i, f := range s.Flags {
		b, ok := flagBits.get(f)
		if !ok {
			return 0, fmt.Errorf("linux.seccomp.flags[%d]: unknown flag %q", i, f)
		}
		bits |= b
	}
	return bits, nil
}

// UsesNotify tells whether any rule notifies a listener.
func UsesNotify(s *specs.LinuxSeccomp) bool {
	if s == nil {
		return false
	}
	if s.DefaultAction == actNotify {
		return true
	}
	for _, sc := range s.Syscalls {
		if sc.Action == actNotify {
			return true
		}
	}
	return false
}

// archNames lists the architectures config-linux.md names (libseccomp
// 2.6). The value is libseccomp's name for it, used by compile.go.
var archNames = table[specs.Arch, string]{
	{specs.ArchX86, "x86"}, {specs.ArchX86_64, "amd64"}, {specs.ArchX32, "x32"},
	{specs.ArchARM, "arm"}, {specs.ArchAARCH64, "arm64"},
	{specs.ArchMIPS, "mips"}, {specs.ArchMIPS64, "mips64"}, {specs.ArchMIPS64N32, "mips64n32"},
	{specs.ArchMIPSEL, "mipsel"}, {specs.ArchMIPSEL64, "mipsel64"}, {specs.ArchMIPSEL64N32, "mipsel64n32"},
	{specs.ArchPPC, "ppc"}, {specs.ArchPPC64, "ppc64"}, {specs.ArchPPC64LE, "ppc64le"},
	{specs.ArchS390, "s390"}, {specs.ArchS390X, "s390x"},
	{specs.ArchPARISC, "parisc"}, {specs.ArchPARISC64, "parisc64"},
	{specs.ArchRISCV64, "riscv64"}, {"SCMP_ARCH_LOONGARCH64", "loong64"},
	{"SCMP_ARCH_M68K", "m68k"}, {"SCMP_ARCH_SH", "sh"}, {"SCMP_ARCH_SHEB", "sheb"},
}

// libseccompArch is libseccomp's name for a, "" for an unknown one (which
// libseccomp then refuses).
func libseccompArch(a specs.Arch) string {
	name, _ := archNames.get(a)
	return name
}

// Archs lists the architectures strata knows, for `features`.
func Archs() []string { return keys(archNames) }

package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Compile builds the filter with libseccomp and exports its BPF. It
// returns a warning for each syscall name this libseccomp does not know
// (skipped, as runc does) and an error naming the field for anything else.
func Compile(s *specs.LinuxSeccomp) (*Program, []string, error) {
	if err := Check(s); err != nil {
		return nil, nil, err
	}
	flags, _ := KernelFlags(s)
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, nil, fmt.Errorf("linux.seccomp.defaultAction: %w", err)
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, nil, fmt.Errorf("linux.seccomp: libseccomp: %w", err)
	}
	defer f.Release()
	for i, a := range s.Architectures {
		arch, err := libseccomp.GetArchFromString(libseccompArch(a))
		if err == nil {
			err = f.AddArch(arch)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("linux.seccomp.architectures[%d]: %q: %w", i, a, err)
		}
	}
	var warnings []string
	for i, sc := range s.Syscalls {
		field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if sc.Action == s.DefaultAction && sameErrno(sc.ErrnoRet, s.DefaultErrnoRet) {
			// libseccomp refuses a rule that changes nothing.
			continue
		}
		act, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.action: %w", field, err)
		}
		conds, err := conditions(field, sc.Args)
		if err != nil {
			return nil, nil, err
		}
		for j, name := range sc.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("%s.names[%d]: unknown syscall %q skipped", field, j, name))
				continue
			}
			if err := addRule(f, nr, act, conds); err != nil {
				return nil, nil, fmt.Errorf("%s: syscall %q: %w", field, name, err)
			}
		}
	}
	bpf, err := exportBPF(f)
	if err != nil {
		return nil, nil, err
	}
	if bpf, err = withEnosysStub(s, f, bpf); err != nil {
		return nil, nil, err
	}
	return &Program{BPF: bpf, Flags: flags, Notify: UsesNotify(s)}, warnings, nil
}

// addRule adds one rule. libseccomp cannot AND two comparisons of the same
// argument: such rules become one rule per comparison (an OR), which is
// what docker's profiles have always meant by them (runc does the same).
func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds []libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(nr, act)
	}
	seen := map[uint]int{}
	for _, c := range conds {
		seen[c.Argument]++
	}
	for _, n := range seen {
		if n > 1 {
			for _, c := range conds {
				if err := f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return f.AddRuleConditional(nr, act, conds)
}

func sameErrno(a, b *uint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// action converts an action name; errnoRet defaults to EPERM.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	errno := int16(unix.EPERM)
	if errnoRet != nil {
		errno = int16(*errnoRet)
	}
	switch a {
	case actKill, actKillThread:
		return libseccomp.ActKillThread, nil
	case actKillProcess:
		return libseccomp.ActKillProcess, nil
	case actTrap:
		return libseccomp.ActTrap, nil
	case actErrno:
		return libseccomp.ActErrno.SetReturnCode(errno), nil
	case actTrace:
		return libseccomp.ActTrace.SetReturnCode(errno), nil
	case actAllow:
		return libseccomp.ActAllow, nil
	case actLog:
		return libseccomp.ActLog, nil
	case actNotify:
		return libseccomp.ActNotify, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("unknown action %q", a)
}

var ops = table[specs.LinuxSeccompOperator, libseccomp.ScmpCompareOp]{
	{specs.OpNotEqual, libseccomp.CompareNotEqual}, {specs.OpLessThan, libseccomp.CompareLess},
	{specs.OpLessEqual, libseccomp.CompareLessOrEqual}, {specs.OpEqualTo, libseccomp.CompareEqual},
	{specs.OpGreaterEqual, libseccomp.CompareGreaterEqual}, {specs.OpGreaterThan, libseccomp.CompareGreater},
	{specs.OpMaskedEqual, libseccomp.CompareMaskedEqual},
}

func conditions(field string, args []specs.LinuxSeccompArg) ([]libseccomp.ScmpCondition, error) {
	var conds []libseccomp.ScmpCondition
	for i, a := range args {
		op, ok := ops.get(a.Op)
		if !ok {
			return nil, fmt.Errorf("%s.args[%d].op: unknown operator %q", field, i, a.Op)
		}
		// SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo; the others
		// compare with value alone.
		vals := []uint64{a.Value}
		if a.Op == specs.OpMaskedEqual {
			vals = append(vals, a.ValueTwo)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, vals...)
		if err != nil {
			return nil, fmt.Errorf("%s.args[%d]: %w", field, i, err)
		}
		conds = append(conds, c)
	}
	return conds, nil
}

// exportBPF writes the filter to a memfd (seccomp_export_bpf_mem needs
// libseccomp 2.6; Debian 12 has 2.5) and reads it back.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("strata-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "strata-seccomp")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("linux.seccomp: export BPF: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	bpf, err := io.ReadAll(mf)
	if err != nil {
		return nil, err
	}
	if len(bpf) == 0 || len(bpf)%8 != 0 {
		return nil, errors.New("linux.seccomp: libseccomp exported a malformed program")
	}
	return bpf, nil
}

// LibraryVersion is libseccomp's version, part of the cache key: another
// libseccomp may compile the same profile differently.
func LibraryVersion() string {
	ma, mi, mc := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", ma, mi, mc)
}

// SupportedArchs lists the architectures this libseccomp can add to a
// filter (config-linux.md names some that libseccomp 2.5 lacks).
func SupportedArchs() []string {
	var l []string
	for _, name := range Archs() {
		arch, err := libseccomp.GetArchFromString(libseccompArch(specs.Arch(name)))
		if err != nil {
			continue
		}
		// A filter of its own per arch: one filter cannot mix byte orders.
		f, err := libseccomp.NewFilter(libseccomp.ActAllow)
		if err != nil {
			return nil
		}
		if present, _ := f.IsArchPresent(arch); present || f.AddArch(arch) == nil {
			l = append(l, name)
		}
		f.Release()
	}
	return l
}

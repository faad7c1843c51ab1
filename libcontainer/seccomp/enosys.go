package seccomp

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// A profile is written for the syscalls of its day. A syscall added to the
// kernel later is one it cannot name, and its default action (EPERM, most
// often) tells the C library that the call exists but is forbidden, so it
// does not fall back to the older call (clone3 -> clone, faccessat2 ->
// faccessat, openat2 -> openat). As runc does, strata answers ENOSYS for
// every syscall numbered above the highest one the profile names on that
// architecture the profile lists, with a stub placed in front of
// libseccomp's program. A profile whose default allows everything gets no
// stub.

// auditArch maps the architectures a stub is made for to the AUDIT_ARCH_*
// value the kernel puts in seccomp_data.arch. Others get no stub.
var auditArch = table[libseccomp.ScmpArch, uint32]{
	{libseccomp.ArchAMD64, unix.AUDIT_ARCH_X86_64},
	{libseccomp.ArchX86, unix.AUDIT_ARCH_I386},
	{libseccomp.ArchARM64, unix.AUDIT_ARCH_AARCH64},
	{libseccomp.ArchARM, unix.AUDIT_ARCH_ARM},
	{libseccomp.ArchPPC64LE, unix.AUDIT_ARCH_PPC64LE},
	{libseccomp.ArchS390X, unix.AUDIT_ARCH_S390X},
	{libseccomp.ArchRISCV64, unix.AUDIT_ARCH_RISCV64},
}

// x32's syscalls arrive with AUDIT_ARCH_X86_64 and this bit set in nr.
const x32SyscallBit = 0x40000000

// needsStub says whether the default action is one that a newer syscall
// must not get.
func needsStub(s *specs.LinuxSeccomp) bool {
	return s.DefaultAction != actAllow && s.DefaultAction != actLog
}

// lastSyscalls returns, per architecture of the filter, the highest
// syscall number that the profile names.
func lastSyscalls(s *specs.LinuxSeccomp, archs []libseccomp.ScmpArch) map[libseccomp.ScmpArch]uint32 {
	last := map[libseccomp.ScmpArch]uint32{}
	for _, sc := range s.Syscalls {
		for _, name := range sc.Names {
			for _, a := range archs {
				nr, err := libseccomp.GetSyscallFromNameByArch(name, a)
				if err != nil || nr < 0 {
					continue // not on this architecture
				}
				if n := uint32(nr); n > last[a] {
					last[a] = n
				}
			}
		}
	}
	return last
}

// insn is a classic BPF instruction whose jump targets are labels ("" for
// the next instruction), resolved by assemble.
type insn struct {
	code   uint16
	k      uint32
	jt, jf string
	label  string
}

const (
	ldAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	jsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	jaK    = unix.BPF_JMP | unix.BPF_JA
	retK   = unix.BPF_RET | unix.BPF_K
	// Offsets in struct seccomp_data.
	offNr   = 0
	offArch = 4
)

// enosysStub is the stub for last, in the order of archs; it ends where
// libseccomp's program begins (the label "filter").
func enosysStub(archs []libseccomp.ScmpArch, last map[libseccomp.ScmpArch]uint32) []insn {
	var dispatch, blocks []insn
	dispatch = append(dispatch, insn{code: ldAbsW, k: offArch})
	for _, a := range archs {
		audit, ok := auditArch.get(a)
		n, named := last[a]
		if !ok || !named {
			continue
		}
		block := "arch-" + a.String()
		dispatch = append(dispatch, insn{code: jeqK, k: audit, jt: block})
		blocks = append(blocks, insn{code: ldAbsW, k: offNr, label: block})
		if a == libseccomp.ArchAMD64 {
			// An x32 syscall: libseccomp's program decides.
			blocks = append(blocks, insn{code: jsetK, k: x32SyscallBit, jt: "filter"})
		}
		blocks = append(blocks, insn{code: jgtK, k: n, jt: "enosys", jf: "filter"})
	}
	if len(blocks) == 0 {
		return nil
	}
	out := append(dispatch, insn{code: jaK, jt: "filter"})
	out = append(out, blocks...)
	return append(out, insn{code: retK, k: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS), label: "enosys"})
}

// assemble resolves the labels of stub, which jumps forward to "filter"
// (the first instruction after it), and returns its encoding.
func assemble(stub []insn) ([]byte, error) {
	at := map[string]int{"filter": len(stub)}
	for i, in := range stub {
		if in.label != "" {
			at[in.label] = i
		}
	}
	rel := func(from int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := at[label]
		if !ok || to <= from {
			return 0, fmt.Errorf("enosys stub: bad jump to %q", label)
		}
		return uint32(to - from - 1), nil
	}
	b := make([]byte, 0, 8*len(stub))
	for i, in := range stub {
		jt, err := rel(i, in.jt)
		if err != nil {
			return nil, err
		}
		jf, err := rel(i, in.jf)
		if err != nil {
			return nil, err
		}
		k := in.k
		if in.code == jaK {
			k, jt = jt, 0
		} else if jt > 255 || jf > 255 {
			return nil, fmt.Errorf("enosys stub: jump too far")
		}
		b = binary.NativeEndian.AppendUint16(b, in.code)
		b = append(b, uint8(jt), uint8(jf))
		b = binary.NativeEndian.AppendUint32(b, k)
	}
	return b, nil
}

// withEnosysStub returns bpf with the stub for s in front of it.
func withEnosysStub(s *specs.LinuxSeccomp, f *libseccomp.ScmpFilter, bpf []byte) ([]byte, error) {
	if !needsStub(s) {
		return bpf, nil
	}
	archs, err := filterArchs(f, s)
	if err != nil {
		return nil, err
	}
	stub := enosysStub(archs, lastSyscalls(s, archs))
	if stub == nil {
		return bpf, nil
	}
	code, err := assemble(stub)
	if err != nil {
		return nil, err
	}
	return append(code, bpf...), nil
}

// filterArchs are the architectures the profile names, as in runc: a
// profile that names none gets no stub.
func filterArchs(f *libseccomp.ScmpFilter, s *specs.LinuxSeccomp) ([]libseccomp.ScmpArch, error) {
	var archs []libseccomp.ScmpArch
	for _, a := range s.Architectures {
		arch, err := libseccomp.GetArchFromString(libseccompArch(a))
		if err != nil {
			continue
		}
		if present, _ := f.IsArchPresent(arch); present {
			archs = append(archs, arch)
		}
	}
	return archs, nil
}

package seccomp

import (
	"errors"
	"fmt"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Load installs the program on the calling thread with seccomp(2), adding
// extraFlags to the program's own. With FlagNewListener it returns the
// notify fd (O_CLOEXEC), otherwise -1. The caller must hold its OS thread
// and execve from it: without TSYNC the filter is the thread's alone, and
// execve keeps it for the new program.
//
// Loading needs no_new_privs or CAP_SYS_ADMIN (in the user namespace).
func (p *Program) Load(extraFlags uint) (int, error) {
	if len(p.BPF) == 0 || len(p.BPF)%8 != 0 {
		return -1, errors.New("linux.seccomp: malformed BPF program")
	}
	flags := p.Flags | extraFlags
	if flags&FlagNewListener != 0 {
		// TSYNC with a listener needs TSYNC_ESRCH (Linux 5.7); strata
		// never needs TSYNC anyway: the thread that loads is the one that
		// executes the program.
		flags &^= FlagTsync
	}
	prog := unix.SockFprog{
		Len:    uint16(len(p.BPF) / 8),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&p.BPF[0])),
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, SetModeFilter, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return -1, fmt.Errorf("linux.seccomp: load the filter (flags %#x): %w", flags, errno)
	}
	if flags&FlagNewListener != 0 {
		return int(r), nil
	}
	return -1, nil
}

// SupportedFlags lists the linux.seccomp.flags this kernel accepts. A
// known flag with a NULL program fails with EFAULT, an unknown one with
// EINVAL, before anything is loaded (runc probes the same way).
func SupportedFlags() []string {
	var l []string
	for _, name := range Flags() {
		bit, _ := flagBits.get(specs.LinuxSeccompFlag(name))
		if bit == FlagWaitKillableRecv {
			bit |= FlagNewListener // meaningless, so refused, without it
		}
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, SetModeFilter, uintptr(bit), 0)
		if errno == unix.EFAULT {
			l = append(l, name)
		}
	}
	return l
}

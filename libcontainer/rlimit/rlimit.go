// Package rlimit applies process.rlimits to the calling process, so that the
// container's process inherits them across execve.
package rlimit

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// names maps the spec's names to the kernel's resource numbers. It is the
// full Linux list (RLIMIT_CPU .. RLIMIT_RTTIME) as documented in getrlimit(2).
var names = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// Parse returns the kernel's resource number for a name such as "RLIMIT_NOFILE".
func Parse(name string) (int, error) {
	if r, ok := names[name]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("unknown rlimit type %q", name)
}

// Apply sets each limit on the calling process, in spec order.
//
// It goes through unix.Prlimit on pid 0 on purpose: x/sys forwards that to the
// syscall package's prlimit, which (since Go 1.21) forgets the RLIMIT_NOFILE
// soft limit Go saved when it raised its own at startup. Without that,
// syscall.Exec would put the saved (host) soft limit back just before execve and
// the container would not see the spec's RLIMIT_NOFILE. A raw prlimit64 syscall
// would not tell Go, so do not replace this with unix.Syscall.
func Apply(rls []specs.POSIXRlimit) error {
	for i, rl := range rls {
		res, err := Parse(rl.Type)
		if err != nil {
			return fmt.Errorf("process.rlimits[%d]: %w", i, err)
		}
		if rl.Soft > rl.Hard {
			return fmt.Errorf("process.rlimits[%d] %s: soft limit %d exceeds hard limit %d", i, rl.Type, rl.Soft, rl.Hard)
		}
		lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := unix.Prlimit(0, res, &lim, nil); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("process.rlimits[%d] %s: set soft %d hard %d: %w (raising a hard limit needs CAP_SYS_RESOURCE, which the bounding set may lack)", i, rl.Type, rl.Soft, rl.Hard, err)
			}
			return fmt.Errorf("process.rlimits[%d] %s: set soft %d hard %d: %w", i, rl.Type, rl.Soft, rl.Hard, err)
		}
	}
	return nil
}

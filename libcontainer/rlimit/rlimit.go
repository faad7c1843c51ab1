// Package rlimit names process.rlimits' resources (the plan sets them).
package rlimit

import (
	"fmt"

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

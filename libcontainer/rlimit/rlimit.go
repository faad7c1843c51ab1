// Package rlimit names process.rlimits' resources (the plan sets them).
package rlimit

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// names pairs the spec's names with the kernel's resource numbers. It is the
// full Linux list (RLIMIT_CPU .. RLIMIT_RTTIME) as documented in getrlimit(2).
// A table of constants, laid out by the linker: a map would be built by the
// package initialiser at every strata start.
var names = [...]struct {
	name     string
	resource int
}{
	{"RLIMIT_AS", unix.RLIMIT_AS},
	{"RLIMIT_CORE", unix.RLIMIT_CORE},
	{"RLIMIT_CPU", unix.RLIMIT_CPU},
	{"RLIMIT_DATA", unix.RLIMIT_DATA},
	{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE},
	{"RLIMIT_LOCKS", unix.RLIMIT_LOCKS},
	{"RLIMIT_MEMLOCK", unix.RLIMIT_MEMLOCK},
	{"RLIMIT_MSGQUEUE", unix.RLIMIT_MSGQUEUE},
	{"RLIMIT_NICE", unix.RLIMIT_NICE},
	{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE},
	{"RLIMIT_NPROC", unix.RLIMIT_NPROC},
	{"RLIMIT_RSS", unix.RLIMIT_RSS},
	{"RLIMIT_RTPRIO", unix.RLIMIT_RTPRIO},
	{"RLIMIT_RTTIME", unix.RLIMIT_RTTIME},
	{"RLIMIT_SIGPENDING", unix.RLIMIT_SIGPENDING},
	{"RLIMIT_STACK", unix.RLIMIT_STACK},
}

// Parse returns the kernel's resource number for a name such as "RLIMIT_NOFILE".
func Parse(name string) (int, error) {
	for _, n := range names {
		if n.name == name {
			return n.resource, nil
		}
	}
	return 0, fmt.Errorf("unknown rlimit type %q", name)
}

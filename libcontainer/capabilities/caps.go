// Package capabilities turns process.capabilities into the five kernel sets of
// the container's process.
//
// The sets are parsed here, in Go; the plan (libcontainer/plan) orders the
// steps that apply them and the executor (nsenter/executor.c) performs them:
// the bounding set while the process is still root, the other sets after the
// user change, which would otherwise clear them.
package capabilities

import (
	"fmt"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// byName maps "CAP_SYS_ADMIN" style names to numbers, from moby/sys/capability's
// list so the runtime and its validator agree on what a known name is. It is
// built on first use, not by the package initialiser: every strata start
// links this package, and most commands (state, kill, delete) parse no
// capability.
var byName = sync.OnceValue(func() map[string]capability.Cap {
	m := make(map[string]capability.Cap)
	for _, c := range capability.ListKnown() {
		m[Name(c)] = c
	}
	return m
})

// Name returns the spec's spelling of c, for example "CAP_SYS_ADMIN".
func Name(c capability.Cap) string {
	return "CAP_" + strings.ToUpper(c.String())
}

// Parse returns the number of a capability named as in the spec ("CAP_KILL").
func Parse(name string) (capability.Cap, error) {
	if c, ok := byName()[name]; ok {
		return c, nil
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// Caps holds the five sets as bit masks (bit n is capability n).
type Caps struct {
	bounding, effective, permitted, inheritable, ambient uint64
	last                                                 capability.Cap
	warnings                                             []string
}

// KernelLast is the running kernel's last capability.
func KernelLast() (capability.Cap, error) {
	last, err := capability.LastCap()
	if err != nil {
		return 0, fmt.Errorf("capabilities: read the kernel's last capability: %w", err)
	}
	return last, nil
}

// NewForKernel parses c for a kernel whose last capability is last. A nil c
// means an empty set everywhere: the process keeps no capability at all.
// Names unknown to strata, and names the kernel does not know (newer than
// its last capability), are skipped with a warning, as runc does, so one
// config works across kernel versions.
func NewForKernel(c *specs.LinuxCapabilities, last capability.Cap) (*Caps, error) {
	caps := &Caps{last: last}
	if c == nil {
		return caps, nil
	}
	warned := make(map[string]bool)
	for _, set := range []struct {
		field string
		names []string
		mask  *uint64
	}{
		{"bounding", c.Bounding, &caps.bounding},
		{"effective", c.Effective, &caps.effective},
		{"permitted", c.Permitted, &caps.permitted},
		{"inheritable", c.Inheritable, &caps.inheritable},
		{"ambient", c.Ambient, &caps.ambient},
	} {
		for i, name := range set.names {
			n, err := Parse(name)
			if err != nil {
				// config.md: what cannot be granted MUST be logged as a
				// warning, and the runtime SHOULD NOT fail (runc ignores
				// unknown names with a warning too).
				if !warned[name] {
					warned[name] = true
					caps.warnings = append(caps.warnings, fmt.Sprintf("process.capabilities.%s[%d]: %v; ignored", set.field, i, err))
				}
				continue
			}
			if n > last {
				if !warned[name] {
					warned[name] = true
					caps.warnings = append(caps.warnings, fmt.Sprintf(
						"process.capabilities.%s[%d]: %s is not supported by the running kernel (last capability %d); ignored",
						set.field, i, name, last))
				}
				continue
			}
			*set.mask |= 1 << uint(n)
		}
	}
	return caps, nil
}

// Warnings returns the names New skipped, for the caller to log as
// warnings.
func (c *Caps) Warnings() []string {
	return c.warnings
}

// Sets returns the five sets as masks (bit n is capability n).
func (c *Caps) Sets() (bounding, effective, permitted, inheritable, ambient uint64) {
	return c.bounding, c.effective, c.permitted, c.inheritable, c.ambient
}

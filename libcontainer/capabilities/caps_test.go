package capabilities

import (
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Applying the sets is the executor's job (nsenter/executor.c), tested end
// to end by tests/integration; here, what parsing keeps and warns about.

// Unknown names are skipped with a warning naming the field, as runc
// does and config.md asks (what cannot be granted is logged, not fatal).
func TestNewSkipsUnknownNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		caps specs.LinuxCapabilities
		want string
	}{
		{specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_KILL", "CAP_FOO"}}, `process.capabilities.bounding[2]: unknown capability "CAP_FOO"; ignored`},
		{specs.LinuxCapabilities{Effective: []string{"kill"}}, `process.capabilities.effective[0]: unknown capability "kill"; ignored`},
		{specs.LinuxCapabilities{Permitted: []string{""}}, `process.capabilities.permitted[0]: unknown capability ""; ignored`},
		{specs.LinuxCapabilities{Inheritable: []string{"CAP_sys_admin"}}, `process.capabilities.inheritable[0]: unknown capability "CAP_sys_admin"; ignored`},
		{specs.LinuxCapabilities{Ambient: []string{"CAP_CHOWN", "SYS_ADMIN"}}, `process.capabilities.ambient[1]: unknown capability "SYS_ADMIN"; ignored`},
	} {
		last, err := KernelLast()
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewForKernel(&tc.caps, last)
		if err != nil {
			t.Fatalf("New(%+v): %v", tc.caps, err)
		}
		if w := c.Warnings(); len(w) != 1 || w[0] != tc.want {
			t.Errorf("New(%+v) warnings = %q, want %q", tc.caps, w, tc.want)
		}
	}
}

// On an older kernel, capabilities it does not have are skipped with a warning.
func TestNewSkipsCapsBeyondKernel(t *testing.T) {
	t.Parallel()
	c, err := NewForKernel(&specs.LinuxCapabilities{
		Bounding:  []string{"CAP_KILL", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"},
		Permitted: []string{"CAP_BPF"},
	}, capability.CAP_AUDIT_READ)
	if err != nil {
		t.Fatal(err)
	}
	if c.bounding != mask(capability.CAP_KILL) || c.permitted != 0 {
		t.Errorf("bounding %x permitted %x: want only CAP_KILL kept", c.bounding, c.permitted)
	}
	w := c.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "bounding[1]: CAP_BPF is not supported") ||
		!strings.Contains(w[1], "bounding[2]: CAP_CHECKPOINT_RESTORE") {
		t.Errorf("warnings = %q", w)
	}
}

func TestParseName(t *testing.T) {
	t.Parallel()
	if c, err := Parse("CAP_SYS_ADMIN"); err != nil || c != capability.CAP_SYS_ADMIN {
		t.Errorf("Parse(CAP_SYS_ADMIN) = %v, %v", c, err)
	}
	if Name(capability.CAP_NET_BIND_SERVICE) != "CAP_NET_BIND_SERVICE" {
		t.Errorf("Name = %q", Name(capability.CAP_NET_BIND_SERVICE))
	}
}

func mask(cs ...capability.Cap) uint64 {
	var m uint64
	for _, c := range cs {
		m |= 1 << uint(c)
	}
	return m
}

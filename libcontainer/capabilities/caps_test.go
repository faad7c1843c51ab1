package capabilities

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Applying capabilities is irreversible, so each case runs in a re-executed
// copy of the test binary. childEnv carries the case as JSON.
const childEnv = "STRATA_CAPS_CHILD"

type childCase struct {
	Caps *specs.LinuxCapabilities
	UID  int  // when not 0, change to this uid between the two steps
	Exec bool // then exec cat /proc/self/status, as the init execs the process
}

// childResult is the first line the child prints; the exec'd cat's output follows.
type childResult struct {
	Status   map[string]uint64 // CapInh CapPrm CapEff CapBnd CapAmb of the thread
	Warnings []string
}

func TestMain(m *testing.M) {
	if c := os.Getenv(childEnv); c != "" {
		child(c)
	}
	os.Exit(m.Run())
}

func child(data string) {
	// The init does the same: every step below acts on this thread only.
	runtime.LockOSThread()
	var cc childCase
	if err := json.Unmarshal([]byte(data), &cc); err != nil {
		die(err)
	}
	caps, err := New(cc.Caps)
	if err != nil {
		die(err)
	}
	if err := caps.ApplyBounding(); err != nil {
		die(err)
	}
	if cc.UID != 0 {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			die(err)
		}
		if err := unix.Setresgid(cc.UID, cc.UID, cc.UID); err != nil {
			die(err)
		}
		if err := unix.Setresuid(cc.UID, cc.UID, cc.UID); err != nil {
			die(err)
		}
	}
	if err := caps.ApplyCaps(); err != nil {
		die(err)
	}
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		die(err)
	}
	line, err := json.Marshal(childResult{Status: capLines(string(status)), Warnings: append(caps.Warnings(), caps.Notes()...)})
	if err != nil {
		die(err)
	}
	os.Stdout.Write(append(line, '\n'))
	if cc.Exec {
		die(syscall.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, nil))
	}
	os.Exit(0)
}

func die(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(3)
}

// capLines parses the Cap* rows of a /proc status file.
func capLines(status string) map[string]uint64 {
	m := make(map[string]uint64)
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":\t")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		n, err := strconv.ParseUint(v, 16, 64)
		if err == nil {
			m[k] = n
		}
	}
	return m
}

// runChild runs one case and returns what the child saw, and what the exec'd
// program saw when cc.Exec is set.
func runChild(t *testing.T, cc childCase) (childResult, map[string]uint64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("capability tests need root (CI runs as root)")
	}
	data, err := json.Marshal(cc)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(data))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	r := bufio.NewReader(strings.NewReader(string(out)))
	first, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("child printed no result: %q", out)
	}
	var res childResult
	if err := json.Unmarshal([]byte(first), &res); err != nil {
		t.Fatal(err)
	}
	rest := out[len(first):]
	return res, capLines(string(rest))
}

func mask(cs ...capability.Cap) uint64 {
	var m uint64
	for _, c := range cs {
		m |= 1 << uint(c)
	}
	return m
}

func hostBounding(t *testing.T) uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	return capLines(string(status))["CapBnd"]
}

func checkSets(t *testing.T, got map[string]uint64, want map[string]uint64) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %016x (%s), want %016x (%s)", k, got[k], names(got[k]), w, names(w))
		}
	}
}

func TestApplyAsRoot(t *testing.T) {
	t.Parallel()
	// CAP_SYS_RESOURCE is listed on purpose: this host's bounding set lacks it,
	// so the result is the intersection, and dropping it again is not an error.
	bnd := []string{"CAP_CHOWN", "CAP_KILL", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_RESOURCE"}
	res, _ := runChild(t, childCase{Caps: &specs.LinuxCapabilities{
		Bounding:    bnd,
		Effective:   []string{"CAP_KILL"},
		Permitted:   []string{"CAP_KILL", "CAP_CHOWN"},
		Inheritable: []string{"CAP_CHOWN"},
	}})
	want := mask(capability.CAP_CHOWN, capability.CAP_KILL, capability.CAP_SETPCAP,
		capability.CAP_NET_BIND_SERVICE, capability.CAP_SYS_RESOURCE) & hostBounding(t)
	checkSets(t, res.Status, map[string]uint64{
		"CapBnd": want,
		"CapEff": mask(capability.CAP_KILL),
		"CapPrm": mask(capability.CAP_KILL, capability.CAP_CHOWN),
		"CapInh": mask(capability.CAP_CHOWN),
		"CapAmb": 0,
	})
}

func TestNilDropsEverything(t *testing.T) {
	t.Parallel()
	res, _ := runChild(t, childCase{Caps: nil})
	checkSets(t, res.Status, map[string]uint64{"CapBnd": 0, "CapEff": 0, "CapPrm": 0, "CapInh": 0, "CapAmb": 0})
}

// A non-root process keeps its capabilities across execve only through the
// ambient set: check the sets before and after the exec.
func TestAmbientAsNonRoot(t *testing.T) {
	t.Parallel()
	two := []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}
	res, execd := runChild(t, childCase{UID: 1000, Exec: true, Caps: &specs.LinuxCapabilities{
		Bounding: two, Effective: two, Permitted: two, Inheritable: two, Ambient: two,
	}})
	m := mask(capability.CAP_NET_BIND_SERVICE, capability.CAP_KILL)
	all := map[string]uint64{"CapBnd": m, "CapEff": m, "CapPrm": m, "CapInh": m, "CapAmb": m}
	checkSets(t, res.Status, all)
	checkSets(t, execd, all)
	if len(res.Warnings) != 0 {
		t.Errorf("unexpected warnings: %q", res.Warnings)
	}
}

// Without keeping them inheritable, ambient capabilities cannot be raised: a
// warning, not a failure, and the process ends up with none after exec.
func TestAmbientWithoutInheritableWarns(t *testing.T) {
	t.Parallel()
	one := []string{"CAP_KILL"}
	res, execd := runChild(t, childCase{UID: 1000, Exec: true, Caps: &specs.LinuxCapabilities{
		Bounding: one, Effective: one, Permitted: one, Ambient: one,
	}})
	checkSets(t, res.Status, map[string]uint64{"CapAmb": 0, "CapInh": 0, "CapPrm": mask(capability.CAP_KILL)})
	checkSets(t, execd, map[string]uint64{"CapEff": 0, "CapPrm": 0})
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "process.capabilities.ambient: cannot raise CAP_KILL") {
		t.Errorf("warnings = %q, want one about CAP_KILL", res.Warnings)
	}
}

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
		c, err := New(&tc.caps)
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
	c, err := newForKernel(&specs.LinuxCapabilities{
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

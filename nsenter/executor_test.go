package nsenter

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/plan"
)

// The executor (executor.c, steps_*.c) runs in this package's own test
// binary: its constructor is linked in, so the binary started again with
// _STRATA_EXEC carries out a plan and executes the program, as the exec stage
// of a container's init does. Each case compiles a real plan (an exec'd
// process's, as plan.Process makes it), plays the parent's side of the
// protocol and checks what the program saw, or the failure reported.

type result struct {
	out   string   // the program's stdout
	ready string   // the 'R' payload, "" if none came
	err   string   // an 'E' payload
	fds   []string // types of messages that carried an fd
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("the executor tests change user and capabilities: run them as root")
	}
}

func spec(args ...string) *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{
			Args:         args,
			Env:          []string{"PATH=/usr/bin:/bin", "HOME=/"},
			Cwd:          "/",
			Capabilities: &specs.LinuxCapabilities{},
		},
		Linux: &specs.Linux{},
	}
}

func input(s *specs.Spec) plan.ProcessInput {
	last, err := capability.LastCap()
	if err != nil {
		panic(err)
	}
	return plan.ProcessInput{Spec: s, Exec: true, Env: s.Process.Env, LastCap: last,
		SetgroupsAllowed: true, ConsoleFD: -1, ProcfsFD: -1, FifoFD: -1, Timings: true}
}

// run starts the executor on p's plan and answers it as strata's parent
// does: 'G' for its placement, then reads until the socket closes.
func run(t *testing.T, in plan.ProcessInput) result {
	t.Helper()
	p, err := plan.Process(in)
	if err != nil {
		t.Fatal(err)
	}
	r := runRaw(t, p.Encode(), true)
	// The parent decodes the report: it must be JSON, timings or none.
	if r.ready != "" && !json.Valid([]byte(r.ready)) {
		t.Fatalf("ready report is not JSON: %s", r.ready)
	}
	return r
}

func runRaw(t *testing.T, encoded []byte, place bool) result {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := fds[0], os.NewFile(uintptr(fds[1]), "child")
	defer unix.Close(parent)
	memfd, err := unix.MemfdCreate("plan", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	planFile := os.NewFile(uintptr(memfd), "plan")
	defer planFile.Close()
	if _, err := planFile.Write(encoded); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"_STRATA_EXEC=3,4"}
	cmd.ExtraFiles = []*os.File{child, planFile}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	// An exec'd process's plan starts by waiting for its placement. (Not
	// sent to one that will not read it: a socket closed with unread data
	// answers ECONNRESET before the messages it sent.)
	if place {
		if _, err := unix.Write(parent, []byte{'G'}); err != nil {
			t.Fatal(err)
		}
	}
	var r result
	buf := make([]byte, 1<<16)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(parent, buf, oob, 0)
		if err != nil || n == 0 {
			break
		}
		if oobn > 0 {
			r.fds = append(r.fds, string(buf[0]))
			if msgs, _ := unix.ParseSocketControlMessage(oob[:oobn]); len(msgs) > 0 {
				if got, _ := unix.ParseUnixRights(&msgs[0]); len(got) > 0 {
					unix.Close(got[0])
				}
			}
		}
		switch buf[0] {
		case 'R':
			r.ready = string(buf[1:n])
		case 'E':
			r.err = string(buf[1:n])
		}
	}
	cmd.Wait()
	r.out = out.String()
	return r
}

// status is one row of the program's /proc/self/status.
func status(t *testing.T, out, key string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in the program's output:\n%s", key, out)
	return ""
}

func TestExecutorIdentity(t *testing.T) {
	requireRoot(t)
	s := spec("/bin/sh", "-c", "cat /proc/self/status; umask")
	mask := uint32(0o027)
	s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 20}, Umask: &mask}
	r := run(t, input(s))
	if r.err != "" {
		t.Fatal(r.err)
	}
	for key, want := range map[string]string{"Uid": "1000\t1000\t1000\t1000", "Gid": "1001\t1001\t1001\t1001", "Groups": "10 20"} {
		if got := status(t, r.out, key); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	if !strings.Contains(r.out, "0027") {
		t.Errorf("umask 0027 not in the output:\n%s", r.out)
	}
	if !strings.Contains(r.ready, `"timings":[{"phase":"plan: await-placement (cgroups)"`) {
		t.Errorf("ready report without the plan's timings: %s", r.ready)
	}
}

// A non-root user keeps exactly the capabilities the spec grants, ambient
// ones included (PR_SET_KEEPCAPS across the user change), and the bounding
// set holds only what the spec lists.
func TestExecutorCapabilitiesAsUser(t *testing.T) {
	requireRoot(t)
	s := spec("/bin/cat", "/proc/self/status")
	s.Process.User = specs.User{UID: 1000, GID: 1000}
	one := []string{"CAP_NET_BIND_SERVICE"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Effective: one, Permitted: one, Inheritable: one, Ambient: one}
	r := run(t, input(s))
	if r.err != "" {
		t.Fatal(r.err)
	}
	bind, kill := uint64(1)<<capability.CAP_NET_BIND_SERVICE, uint64(1)<<capability.CAP_KILL
	for key, want := range map[string]uint64{"CapInh": bind, "CapPrm": bind, "CapEff": bind, "CapAmb": bind, "CapBnd": bind | kill} {
		if got := status(t, r.out, key); got != hex16(want) {
			t.Errorf("%s: %s, want %s", key, got, hex16(want))
		}
	}
}

// Without --debug the parent asks for no timings, and none are formatted.
func TestExecutorReadyWithoutTimings(t *testing.T) {
	requireRoot(t)
	in := input(spec("/bin/true"))
	in.Timings = false
	r := run(t, in)
	if r.err != "" {
		t.Fatal(r.err)
	}
	if !strings.HasPrefix(r.ready, `{"timings":[],`) {
		t.Errorf("ready report with timings nobody asked for: %s", r.ready)
	}
}

// An ambient capability that is not inheritable cannot be raised: a note
// in the ready report, not a failure (runc's own spec lists such ones).
func TestExecutorAmbientWithoutInheritableIsANote(t *testing.T) {
	requireRoot(t)
	s := spec("/bin/true")
	one := []string{"CAP_NET_BIND_SERVICE"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: one, Effective: one, Permitted: one, Ambient: one}
	r := run(t, input(s))
	if r.err != "" {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.ready, `process.capabilities.ambient: cannot raise CAP_NET_BIND_SERVICE: operation not permitted`) {
		t.Errorf("no note for the ambient capability in %s", r.ready)
	}
}

func TestExecutorRlimitsAndNoNewPrivs(t *testing.T) {
	requireRoot(t)
	s := spec("/bin/sh", "-c", "cat /proc/self/limits /proc/self/status")
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_NOFILE", Soft: 77, Hard: 88}}
	s.Process.NoNewPrivileges = true
	r := run(t, input(s))
	if r.err != "" {
		t.Fatal(r.err)
	}
	for _, want := range []string{"Max core file size        1024                 4096", "Max open files            77                   88"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("no %q in /proc/self/limits:\n%s", want, r.out)
		}
	}
	if got := status(t, r.out, "NoNewPrivs"); got != "1" {
		t.Errorf("NoNewPrivs %s", got)
	}
}

// The words dockerd matches (127 rather than 125) and the PATH searched.
func TestExecutorProgramNotFound(t *testing.T) {
	requireRoot(t)
	for args, want := range map[string]string{
		"/nonexistent/prog": `process.args[0] "/nonexistent/prog": stat /nonexistent/prog: no such file or directory`,
		"noprog":            `process.args[0] "noprog": executable file not found in $PATH (/usr/bin:/bin)`,
		"/etc":              `process.args[0] "/etc": is a directory`,
	} {
		r := run(t, input(spec(args)))
		if r.err != want {
			t.Errorf("%s: error %q, want %q", args, r.err, want)
		}
		if r.ready != "" {
			t.Errorf("%s: ready reported before the failure", args)
		}
	}
}

// A cwd outside the process's root (a leaked directory fd would give one,
// CVE-2024-21626) is refused, not entered.
func TestExecutorCwd(t *testing.T) {
	requireRoot(t)
	s := spec("/bin/pwd")
	s.Process.Cwd = "/nonexistent"
	if r := run(t, input(s)); r.err != `process.cwd "/nonexistent": no such file or directory` {
		t.Errorf("error %q", r.err)
	}
	s.Process.Cwd = t.TempDir()
	if r := run(t, input(s)); r.err != "" || strings.TrimSpace(r.out) != s.Process.Cwd {
		t.Errorf("pwd %q, error %q; want %s", r.out, r.err, s.Process.Cwd)
	}
}

// With SCMP_ACT_NOTIFY the listener fd goes to the parent before 'R'. The
// filter here allows everything: one BPF "return ALLOW" instruction.
func TestExecutorSeccompListenerFd(t *testing.T) {
	requireRoot(t)
	allow := []byte{0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f} // BPF_RET|BPF_K, SECCOMP_RET_ALLOW
	s := spec("/bin/true")
	s.Process.NoNewPrivileges = true
	in := input(s)
	in.Seccomp = &plan.Filter{BPF: allow, Notify: true}
	r := run(t, in)
	if r.err != "" {
		t.Fatal(r.err)
	}
	if len(r.fds) != 1 || r.fds[0] != "S" {
		t.Errorf("messages with fds: %q, want one 'S'", r.fds)
	}
}

func TestExecutorRefusesMalformedPlans(t *testing.T) {
	requireRoot(t)
	for name, b := range map[string][]byte{
		"no magic":     []byte("XXXX"),
		"unknown op":   append([]byte("SPL1"), 200, 0, 0, 0, 0),
		"short length": append([]byte("SPL1"), 1, 50, 0, 0, 0, 's'),
	} {
		r := runRaw(t, b, false)
		if !strings.Contains(r.err, "malformed plan") {
			t.Errorf("%s: error %q (output %q), want a malformed plan", name, r.err, r.out)
		}
	}
}

func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

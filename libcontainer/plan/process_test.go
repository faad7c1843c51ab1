package plan

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite testdata/*.plan from what Process compiles")

func u32(v uint32) *uint32 { return &v }
func u64(v uint64) *uint64 { return &v }
func intp(v int) *int      { return &v }

// base is a container's spec as `strata spec` writes it, trimmed.
func base() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: []string{"sh"},
			Env:  []string{"PATH=/usr/bin:/bin", "HOME=/root"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
				Effective: []string{"CAP_KILL"},
				Permitted: []string{"CAP_KILL"},
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Linux: &specs.Linux{},
	}
}

func initInput(s *specs.Spec) ProcessInput {
	return ProcessInput{Spec: s, Env: s.Process.Env, LastCap: capability.CAP_CHECKPOINT_RESTORE,
		SetgroupsAllowed: true, ConsoleFD: -1, ProcfsFD: 7, FifoFD: 6, StartState: []byte(`{"status":"created"}`)}
}

func execInput(s *specs.Spec) ProcessInput {
	in := initInput(s)
	in.Exec, in.ProcfsFD, in.FifoFD = true, -1, -1
	return in
}

// The plans of a table of specs, held in testdata/<name>.plan (go test
// -update rewrites them; review the diff).
func TestProcessPlans(t *testing.T) {
	filter := &Filter{BPF: make([]byte, 16), Flags: 2}
	for _, tc := range []struct {
		name string
		in   func() ProcessInput
	}{
		{"init-default", func() ProcessInput { return initInput(base()) }},
		{"exec-default", func() ProcessInput { return execInput(base()) }},
		{"init-terminal-user-seccomp", func() ProcessInput {
			s := base()
			s.Process.Terminal = true
			s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}, Umask: u32(0o027)}
			s.Process.Cwd = "/home/user"
			in := initInput(s)
			in.ConsoleFD, in.Seccomp = 8, filter
			return in
		}},
		{"exec-seccomp-without-nnp", func() ProcessInput {
			s := base()
			s.Process.NoNewPrivileges = false
			in := execInput(s)
			in.Seccomp = filter
			return in
		}},
		{"exec-seccomp-notify", func() ProcessInput {
			in := execInput(base())
			in.Seccomp = &Filter{BPF: make([]byte, 8), Notify: true}
			return in
		}},
		{"init-start-hooks-seccomp", func() ProcessInput {
			s := base()
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{
				{Path: "/bin/hook", Args: []string{"hook", "start"}, Env: []string{"A=1"}, Timeout: intp(5)},
				{Path: "/bin/other"},
			}}
			in := initInput(s)
			in.Seccomp = filter
			return in
		}},
		{"init-nofile-restored", func() ProcessInput {
			s := base()
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}
			in := initInput(s)
			in.NofileSoft = u64(1024)
			return in
		}},
		{"exec-attributes-lsm", func() ProcessInput {
			s := base()
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 10, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}}
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
			s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "0-2,5"}
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "1,65", Flags: []specs.MemoryPolicyFlagType{specs.MpolFRelativeNodes}}
			in := execInput(s)
			in.ApparmorExec, in.SelinuxExec = "exec docker-default", "system_u:system_r:container_t:s0"
			return in
		}},
		{"init-unknown-caps-warn", func() ProcessInput {
			s := base()
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_TEST", "CAP_BPF")
			in := initInput(s)
			in.LastCap = capability.CAP_AUDIT_READ
			return in
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Process(tc.in())
			if err != nil {
				t.Fatal(err)
			}
			got := p.String()
			for _, w := range p.Warnings {
				got += "warning: " + w + "\n"
			}
			checkGolden(t, tc.name, got)
		})
	}
}

// checkGolden compares a plan with testdata/<name>.plan (go test -update
// rewrites it from got).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name+".plan")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

// Every order the kernel imposes, checked on a plan rather than by eye.
func TestProcessOrder(t *testing.T) {
	s := base()
	s.Process.NoNewPrivileges = false
	in := initInput(s)
	in.Seccomp = &Filter{BPF: make([]byte, 8)}
	p, err := Process(in)
	if err != nil {
		t.Fatal(err)
	}
	at := func(op Op) int {
		for i, st := range p.Steps {
			if st.Op == op {
				return i
			}
		}
		t.Fatalf("no %s step in\n%s", op, p)
		return -1
	}
	for _, pair := range [][2]Op{
		{OpRlimit, OpIdentity},      // raising a hard limit needs root
		{OpCapBounding, OpIdentity}, // needs CAP_SETPCAP
		{OpCloseFrom, OpSeccomp},    // a filter may forbid close_range
		{OpSeccomp, OpIdentity},     // without no_new_privs, needs CAP_SYS_ADMIN
		{OpIdentity, OpCaps},        // the user change clears the sets
		{OpCaps, OpFindProgram},     // X_OK as the user
		{OpReady, OpRelease},
		{OpRelease, OpOpenFifo},
		{OpOpenFifo, OpWriteFifo},
		{OpWriteFifo, OpExec},
	} {
		if at(pair[0]) > at(pair[1]) {
			t.Errorf("%s comes after %s:\n%s", pair[0], pair[1], p)
		}
	}
}

func TestProcessRefuses(t *testing.T) {
	for _, tc := range []struct {
		edit func(*specs.Spec)
		want string
	}{
		{func(s *specs.Spec) { s.Process.Args = nil }, "process.args: must name a program"},
		{func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}} }, `process.rlimits[0]: unknown rlimit type "RLIMIT_FOO"`},
		{func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 2048, Hard: 1024}}
		}, "process.rlimits[0] RLIMIT_CORE: soft limit 2048 exceeds hard limit 1024"},
		{func(s *specs.Spec) { s.Process.User.Umask = u32(0o1777) }, "process.user.umask 01777"},
		{func(s *specs.Spec) { s.Process.Capabilities.Effective = []string{"CAP_NET_BIND_SERVICE"} }, "process.capabilities.effective: CAP_NET_BIND_SERVICE not in the permitted set"},
		{func(s *specs.Spec) { s.Process.Terminal = true }, "process.terminal: no console socket"},
		{func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_NOPE"} }, "process.scheduler.policy"},
		{func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 9}
		}, "process.ioPriority.priority: 9"},
		{func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind} }, "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node"},
		{func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "3-1"} }, "process.execCPUAffinity.final: bad list"},
		{func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "A=x\x00y") }, "contains a NUL byte"},
		{func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/h", Timeout: intp(0)}}}
		}, `hooks.startContainer[0] "/bin/h": timeout 0: must be positive`},
	} {
		s := base()
		tc.edit(s)
		_, err := Process(initInput(s))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Process() = %v, want an error with %q", err, tc.want)
		}
	}
}

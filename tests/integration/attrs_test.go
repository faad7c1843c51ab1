package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// statFields splits /proc/PID/stat after the command name: field N of
// proc(5) is fields[N-3].
func attrStatFields(t *testing.T, stat string) []string {
	t.Helper()
	i := strings.LastIndex(stat, ")")
	if i < 0 {
		t.Fatalf("not a stat line: %q", stat)
	}
	return strings.Fields(stat[i+1:])
}

func TestProcessScheduler(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("cat /proc/self/stat"), func(s *specs.Spec) {
		s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
	}))
	f := attrStatFields(t, out)
	// proc(5): 19 nice, 41 policy (SCHED_BATCH = 3).
	if f[19-3] != "7" || f[41-3] != "3" {
		t.Errorf("nice %s policy %s, want 7 and 3 (SCHED_BATCH)", f[19-3], f[41-3])
	}
}

func TestProcessIOPriority(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("ionice -p $$"), func(s *specs.Spec) {
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
	}))
	if strings.TrimSpace(out) != "best-effort: prio 6" {
		t.Errorf("ionice: %q", out)
	}
}

func TestPersonalityLinux32(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("uname -m"), func(s *specs.Spec) {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	}))
	if strings.TrimSpace(out) != "i686" {
		t.Errorf("uname -m under LINUX32: %q", out)
	}
}

func TestMemoryPolicyBind(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("cat /proc/self/numa_maps"), func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}
	}))
	if !strings.Contains(out, " bind=static:0 ") && !strings.Contains(out, " bind:0 ") {
		t.Errorf("numa_maps shows no bind policy on node 0:\n%s", out)
	}
}

// TestExecCPUAffinity: final applies to exec'd processes, never to the
// container's init ("not applicable to the container's init process").
func TestExecCPUAffinity(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, func(s *specs.Spec) {
		s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "1"}
	}))
	tu.Must(t, c.Run("--detach"))
	init := tu.Must(t, c.Runtime("exec", c.ID, "grep", "Cpus_allowed_list", "/proc/1/status")).Stdout
	if strings.TrimSpace(strings.TrimPrefix(init, "Cpus_allowed_list:")) == "1" {
		t.Errorf("the container's init got execCPUAffinity: %q", init)
	}
	proc := writeProcessJSON(t, c, &specs.Process{
		Args: []string{"grep", "Cpus_allowed_list", "/proc/self/status"}, Cwd: "/",
		Env:             c.Spec.Process.Env,
		ExecCPUAffinity: &specs.CPUAffinity{Initial: "0", Final: "1"},
	})
	out := tu.Must(t, c.Runtime("exec", "--process", proc, c.ID)).Stdout
	if strings.TrimSpace(strings.TrimPrefix(out, "Cpus_allowed_list:")) != "1" {
		t.Errorf("exec'd process: %q, want Cpus_allowed_list 1", out)
	}
}

// apparmorRefusal is strata's refusal of a profile nobody loaded: by the
// host's AppArmor state, read as strata reads it.
func apparmorRefusal() string {
	enabled, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err == nil && strings.HasPrefix(string(enabled), "Y") {
		return `process.apparmorProfile "strata-no-such-profile": AppArmor has no profile loaded by that name`
	}
	return `process.apparmorProfile "strata-no-such-profile": AppArmor is not enabled`
}

func TestAttributeRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_NOPE"} }, `process.scheduler.policy: unknown policy "SCHED_NOPE"`},
		{"ioPriority", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 9}
		}, "process.ioPriority.priority: 9"},
		{"personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "PER_BSD"} }, `linux.personality.domain: unknown domain "PER_BSD"`},
		{"memoryPolicy", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind} }, "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node"},
		{"execCPUAffinity", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "3-1"} }, "process.execCPUAffinity.final"},
		{"intelRdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }, "linux.intelRdt: Intel RDT (resctrl) is not supported"},
		{"netDevices", func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"sndnosuch1": {}} }, `linux.netDevices["sndnosuch1"]: no such host network device`},
		// AppArmor is off on the CI machine and on (with no profile
		// loaded) in the Debian guests; SELinux is off on both.
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "strata-no-such-profile" }, apparmorRefusal()},
		{"selinux", func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, "process.selinuxLabel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tu.NewContainer(t, tc.mutate)
			wantErrorText(t, c.Run(), tc.want)
		})
	}
}

// TestMountLabelIgnoredWithoutSELinux: runc formats no context= option
// when SELinux is off, and so does strata.
func TestMountLabelIgnoredWithoutSELinux(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("echo ok"), func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }))
	if out != "ok\n" {
		t.Errorf("output %q", out)
	}
}

// writeProcessJSON writes p for `exec --process` and returns its path.
func writeProcessJSON(t *testing.T, c *tu.Container, p *specs.Process) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.Dir, "process.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

package libcontainer

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The hosts strata is tested on have neither AppArmor nor SELinux: the
// decision is tested here for every combination; writing the attributes
// (lsmPlan.apply) is not tested anywhere.
func TestDecideLSM(t *testing.T) {
	spec := func(aa, se, mount string) *specs.Spec {
		return &specs.Spec{Process: &specs.Process{ApparmorProfile: aa, SelinuxLabel: se}, Linux: &specs.Linux{MountLabel: mount}}
	}
	for _, tc := range []struct {
		name    string
		host    hostLSMs
		spec    *specs.Spec
		want    lsmPlan
		wantErr string
	}{
		{"nothing asked", hostLSMs{}, spec("", "", ""), lsmPlan{}, ""},
		{"apparmor on", hostLSMs{apparmor: true}, spec("docker-default", "", ""), lsmPlan{ApparmorExec: "exec docker-default"}, ""},
		{"apparmor off", hostLSMs{selinux: true}, spec("docker-default", "", ""), lsmPlan{}, "process.apparmorProfile \"docker-default\": AppArmor is not enabled"},
		{"selinux on", hostLSMs{selinux: true}, spec("", "system_u:system_r:container_t:s0", ""), lsmPlan{SelinuxExec: "system_u:system_r:container_t:s0"}, ""},
		{"selinux off", hostLSMs{apparmor: true}, spec("", "system_u:system_r:container_t:s0", ""), lsmPlan{}, "process.selinuxLabel"},
		{"mountLabel without selinux is ignored", hostLSMs{}, spec("", "", "system_u:object_r:container_file_t:s0"), lsmPlan{}, ""},
		{"mountLabel with selinux is refused", hostLSMs{selinux: true}, spec("", "", "system_u:object_r:container_file_t:s0"), lsmPlan{}, "linux.mountLabel"},
		{"both", hostLSMs{apparmor: true, selinux: true}, spec("p", "l", ""), lsmPlan{ApparmorExec: "exec p", SelinuxExec: "l"}, ""},
	} {
		got, err := decideLSM(tc.host, tc.spec)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestNewAttributes(t *testing.T) {
	s := &specs.Spec{
		Process: &specs.Process{
			Scheduler:       &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 10, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}},
			IOPriority:      &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE, Priority: 0},
			ExecCPUAffinity: &specs.CPUAffinity{Final: "0-2,5"},
		},
		Linux: &specs.Linux{MemoryPolicy: &specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "1,65", Flags: []specs.MemoryPolicyFlagType{specs.MpolFRelativeNodes}}},
	}
	a, err := newAttributes(s, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.sched.Policy != 1 || a.sched.Priority != 10 || a.sched.Flags != 1 {
		t.Errorf("sched: %+v", a.sched)
	}
	if !a.hasIO || a.ioprio != 3<<13 {
		t.Errorf("ioprio %#x", a.ioprio)
	}
	if a.affinity == nil || a.affinity.Count() != 4 || !a.affinity.IsSet(5) || a.affinity.IsSet(3) {
		t.Errorf("affinity %v", a.affinity)
	}
	if a.mpolMode != 3|1<<14 || a.mpolMask[0] != 1<<1 || a.mpolMask[1] != 1<<1 {
		t.Errorf("mempolicy mode %#x mask %x", a.mpolMode, a.mpolMask[:2])
	}
	// The container's init ignores execCPUAffinity.
	if a, _ := newAttributes(s, false); a.affinity != nil {
		t.Error("execCPUAffinity applied to the container's init")
	}
}

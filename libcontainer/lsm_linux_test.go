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

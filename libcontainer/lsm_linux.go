package libcontainer

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Linux security modules: process.apparmorProfile, process.selinuxLabel and
// linux.mountLabel.
//
// What strata does, decided by decideLSM from what the host has enabled:
//   - apparmorProfile with AppArmor enabled: the profile is set for the
//     next execve ("exec <profile>" to the thread's attr/apparmor/exec),
//     written through the private procfs (CVE-2025-52881) as the last step
//     before the exec stage. With AppArmor disabled: an error, as runc
//     gives ("apparmor profile specified but AppArmor is not enabled"):
//     silently running unconfined what was meant to be confined is worse.
//   - selinuxLabel with SELinux enabled: the label is written to the
//     thread's attr/exec the same way. Disabled: an error (runc's
//     validator refuses it too).
//   - mountLabel: ignored when SELinux is disabled (runc formats no
//     context= option then); with SELinux enabled strata refuses it: it
//     does not yet add context= to the container's mounts.
//
// Neither LSM is enabled on the machines strata is tested on, so only the
// decision is unit-tested (lsm_linux_test.go); writing the attributes is
// untested.

// hostLSMs tells which LSMs the host has enabled.
type hostLSMs struct{ apparmor, selinux bool }

func hostLSM() hostLSMs {
	var h hostLSMs
	// As runc's apparmor.IsEnabled: securityfs shows it and the module
	// parameter says Y.
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err == nil {
		b, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
		h.apparmor = len(b) > 0 && b[0] == 'Y'
	}
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/selinux", &st) == nil && st.Type == unix.SELINUX_MAGIC {
		h.selinux = true
	}
	return h
}

// lsmPlan is what the init writes before execve. The parent decides it,
// from the host's view: after pivot_root the init sees the container's
// /sys, where securityfs is usually not mounted at all.
type lsmPlan struct {
	ApparmorExec string `json:"apparmor_exec,omitempty"` // to attr/apparmor/exec
	SelinuxExec  string `json:"selinux_exec,omitempty"`  // to attr/exec
}

// planLSM decides the labels for spec's process; a spec that asks for
// none does not look at the host at all.
func planLSM(spec *specs.Spec) (lsmPlan, error) {
	p := spec.Process
	asked := p != nil && (p.ApparmorProfile != "" || p.SelinuxLabel != "")
	if !asked && (spec.Linux == nil || spec.Linux.MountLabel == "") {
		return lsmPlan{}, nil
	}
	return decideLSM(hostLSM(), spec)
}

func decideLSM(h hostLSMs, spec *specs.Spec) (lsmPlan, error) {
	var plan lsmPlan
	p := spec.Process
	if p != nil && p.ApparmorProfile != "" {
		if !h.apparmor {
			return plan, fmt.Errorf("process.apparmorProfile %q: AppArmor is not enabled on this host", p.ApparmorProfile)
		}
		plan.ApparmorExec = "exec " + p.ApparmorProfile
	}
	if p != nil && p.SelinuxLabel != "" {
		if !h.selinux {
			return plan, fmt.Errorf("process.selinuxLabel %q: SELinux is not enabled on this host", p.SelinuxLabel)
		}
		plan.SelinuxExec = p.SelinuxLabel
	}
	if spec.Linux != nil && spec.Linux.MountLabel != "" && h.selinux {
		return plan, errors.New("linux.mountLabel: SELinux mount labels are not supported by strata yet")
	}
	return plan, nil
}

// LSMs says which security modules strata would apply labels with here.
type LSMs struct{ AppArmor, SELinux bool }

// HostLSMs is for `features`: strata applies an LSM's labels exactly when
// the host has that LSM enabled.
func HostLSMs() LSMs {
	h := hostLSM()
	return LSMs{AppArmor: h.apparmor, SELinux: h.selinux}
}

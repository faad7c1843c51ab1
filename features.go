package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
	"github.com/strata-runtime/strata/libcontainer/capabilities"
	"github.com/strata-runtime/strata/libcontainer/cgroups"
	"github.com/strata-runtime/strata/libcontainer/host"
	"github.com/strata-runtime/strata/libcontainer/plan"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
	"github.com/strata-runtime/strata/libcontainer/seccomp"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this strata implements, as features.md describes",
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 0 {
			return fmt.Errorf("features: expected no arguments, got %d", ctx.NArg())
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(strataFeatures())
	},
}

// strataFeatures must list exactly what strata does on this host, never
// what it merely accepts: clients decide what to ask for from this.
func strataFeatures() *features.Features {
	yes, no := true, false
	lsm := libcontainer.HostLSMs()
	cg := host.ProbeCgroups()
	v1, v2 := cg.HasV1(), cg.HasV2()
	var namespaces []string
	nsOK := host.Namespaces()
	for _, kind := range host.NamespaceKinds {
		if !nsOK[kind].OK {
			continue
		}
		// A user namespace the kernel has but will not make (sysctl 0, an
		// LSM) is one strata cannot give.
		if kind == "user" && !host.UserNamespaces().OK {
			continue
		}
		namespaces = append(namespaces, host.SpecNamespace(kind))
	}
	// The kernel probe makes a real idmapped mount. With a user namespace
	// the parent makes them (sendMountTrees), so containerd's user-
	// namespaced pods, which ask for both, get both.
	idmap := host.IDMapMount().OK
	seccompOK := host.Seccomp().OK
	systemd := cgroups.SystemdHost() == nil
	// For the caller: a rootless one whose session bus is there (the
	// user's manager runs), on a pure v2 host with systemd.
	systemdUser := rootless && cgroups.SystemdUserHost() == nil
	var caps []string
	for _, c := range capability.ListKnown() {
		caps = append(caps, capabilities.Name(c))
	}
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  rootfs.KnownOptions(),
		Linux: &features.Linux{
			Namespaces:   namespaces,
			Capabilities: caps,
			// systemd: --systemd-cgroup where it can make a scope here;
			// systemdUser: the same run rootless, by the user's manager.
			Cgroup: &features.Cgroup{V1: &v1, V2: &v2, Systemd: &systemd, SystemdUser: &systemdUser, Rdma: &yes},
			Seccomp: &features.Seccomp{
				Enabled:        &seccompOK,
				Actions:        seccomp.Actions(),
				Operators:      seccomp.Operators(),
				Archs:          seccomp.SupportedArchs(),
				KnownFlags:     seccomp.Flags(),
				SupportedFlags: seccomp.SupportedFlags(),
			},
			// Applied when the host has the LSM enabled, refused otherwise.
			Apparmor:     &features.Apparmor{Enabled: &lsm.AppArmor},
			Selinux:      &features.Selinux{Enabled: &lsm.SELinux},
			IntelRdt:     &features.IntelRdt{Enabled: &no},
			NetDevices:   &features.NetDevices{Enabled: &yes},
			MemoryPolicy: &features.MemoryPolicy{Modes: plan.MemoryPolicyModes(), Flags: plan.MemoryPolicyFlags()},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &idmap},
			},
		},
		Annotations: map[string]string{
			"org.opencontainers.runtime-spec.features.version": specs.Version,
			"io.github.strata-runtime.version":                 version,
		},
	}
}

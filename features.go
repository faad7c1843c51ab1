package main

import (
	"encoding/json"
	"os"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
	"github.com/strata-runtime/strata/libcontainer/capabilities"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
	"github.com/strata-runtime/strata/libcontainer/seccomp"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this strata implements, as features.md describes",
	Action: func(ctx *cli.Context) error {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(strataFeatures())
	},
}

// strataFeatures must list exactly what strata does, never what it
// merely accepts: clients decide what to ask for from this.
func strataFeatures() *features.Features {
	yes, no := true, false
	lsm := libcontainer.HostLSMs()
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
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &yes},
			Seccomp: &features.Seccomp{
				Enabled:        &yes,
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
			MemoryPolicy: &features.MemoryPolicy{Modes: libcontainer.MemoryPolicyModes(), Flags: libcontainer.MemoryPolicyFlags()},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &yes},
			},
		},
		Annotations: map[string]string{
			"org.opencontainers.runtime-spec.features.version": specs.Version,
			"io.github.strata-runtime.version":                 version,
		},
	}
}

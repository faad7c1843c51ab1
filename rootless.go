package main

import (
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer"
)

// checkRootless refuses what an unprivileged strata cannot give a
// container, before anything is made, and warns about what it leaves out.
// Run by a user other than root, without a user namespace of its own the
// init would have no privilege to build the container with (root in a user
// namespace, as under rootless podman, has its namespace's). Without
// systemdCgroup a rootless container has no cgroup: an unprivileged user
// may not make one, so its resources are not applied (runc ignores them
// too when it may not make the cgroup). With it, the user's systemd
// manager makes the container's scope in the subtree systemd delegates to
// it, and the resources are applied there (cgroups.SystemdUser).
func checkRootless(s *specs.Spec, systemdCgroup bool) error {
	if os.Geteuid() != 0 && !libcontainer.HasOwnUserNamespace(s) {
		return errors.New("rootless: linux.namespaces must include a new user namespace (`strata spec --rootless` writes one)")
	}
	if s.Linux.Resources != nil && !systemdCgroup {
		log.Warnf("linux.resources: not applied: a rootless container has no cgroup (--systemd-cgroup puts it in a scope of the user's systemd manager)")
	}
	return nil
}

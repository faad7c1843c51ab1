//go:build cri

package cri

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// teardown: StopPodSandbox stops every container (the shim's `kill --all`
// on an exited init included) and RemovePodSandbox removes the pod, leaving
// no container in the runtime's root, no mount, no cgroup below the pod's,
// no network namespace and no veth (and with the systemd driver, no
// scope).
func (p *pod) teardown(t *testing.T, ids ...string) {
	must(t, p.e.crictl(t, "stopp", p.id))
	must(t, p.e.crictl(t, "rmp", p.id))
	if out := must(t, p.e.crictl(t, "pods", "-q")); strings.Contains(out, p.id) {
		t.Errorf("crictl pods still lists %s", p.id)
	}
	if left := runtimeList(t, p.h); len(left) > 0 {
		t.Errorf("%s --root %s still lists %v", p.h.name, p.h.stateRoot(), left)
	}
	if entries, err := os.ReadDir(p.h.stateRoot()); err == nil {
		for _, e := range entries {
			for _, id := range append(ids, p.id) {
				if strings.Contains(e.Name(), id) {
					t.Errorf("state left in %s: %s", p.h.stateRoot(), e.Name())
				}
			}
		}
	}
	for _, m := range mountsUnder(p.e.dir) {
		if m != string(p.e.ns) {
			t.Errorf("mount left behind: %s", m)
		}
	}
	if _, err := os.Stat(p.netns); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the pod's network namespace %s is still there (%v)", p.netns, err)
	}
	if left := cgroupsBelow(p.cgroup); len(left) > 0 {
		t.Errorf("cgroups left below the pod's %s: %v", p.cgroup, left)
	}
	if systemdDriver() {
		p.scopesGone(t, append(ids, p.id)...)
	}
	if links := must(t, tu.Exec(t, p.e.ns.command("ip", "-o", "link", "show", "type", "veth"))); links != "" {
		t.Errorf("veth left in the test's network namespace:\n%s", links)
	}
}

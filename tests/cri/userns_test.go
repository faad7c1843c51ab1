//go:build cri

package cri

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// usernsHost is where the user-namespaced pods' ids start on the host:
// the kubelet hands out ranges of 65536 that are multiples of 65536, and
// containerd checks that the pod's ranges are.
const usernsHost = 65536 * 40

// usernsPodChecks runs a pod with a user namespace (CRI userns_options,
// mode POD): containerd turns it on only when the runtime's `features`
// lists the user namespace and idmapped mounts, and gives the sandbox and
// every container the same map. Inside, root is the map's host id and owns
// the rootfs (containerd's overlay snapshotter idmaps the image's layers or
// copies their owners); a file the container makes is owned on the host by
// that id; and the teardown leaves nothing, as for any pod.
func usernsPodChecks(t *testing.T, e *criEnv, h handler) {
	host := usernsHost
	idmap := []map[string]any{{"host_id": host, "container_id": 0, "length": 65536}}
	p := runPodWith(t, e, h, "pod-"+h.name+"-userns", map[string]any{"mode": 0, "uids": idmap, "gids": idmap})
	a := p.container(t, "a", []string{"sh", "-c", "echo made by root > /tmp/by-root; exec sleep 3600"}, 0)
	t.Run("runtime-made-it", func(t *testing.T) { p.runtimeHas(t, p.id, a) })
	t.Run("id-map", func(t *testing.T) {
		want := fmt.Sprintf("0 %d 65536", host)
		for _, f := range []string{"/proc/self/uid_map", "/proc/self/gid_map"} {
			if got := strings.Join(strings.Fields(p.execOut(t, a, "cat", f)), " "); got != want {
				t.Errorf("%s in the container: %q, want %q", f, got, want)
			}
		}
		if got := p.execOut(t, a, "id", "-u"); got != "0" {
			t.Errorf("id -u in the container: %q, want 0", got)
		}
	})
	t.Run("rootfs-owned-by-its-root", func(t *testing.T) {
		got := strings.Fields(p.execOut(t, a, "stat", "-c", "%u:%g", "/", "/bin/busybox"))
		if len(got) != 2 || got[0] != "0:0" || got[1] != "0:0" {
			t.Errorf("owners of / and /bin/busybox in the container: %q, want 0:0 (the image's root, through the map)", got)
		}
	})
	t.Run("host-ids", func(t *testing.T) {
		pid := p.containerPid(t, a)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("Uid:\t%[1]d\t%[1]d\t%[1]d\t%[1]d\n", host)
		if !strings.Contains(string(status), want) {
			t.Errorf("the container's process %d does not run as host uid %d:\n%s", pid, host, status)
		}
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/%d/root/tmp/by-root", pid), &st); err != nil {
			t.Fatal(err)
		}
		if int(st.Uid) != host || int(st.Gid) != host {
			t.Errorf("/tmp/by-root, made by the container's root, is %d:%d on the host, want %d:%d", st.Uid, st.Gid, host, host)
		}
	})
	t.Run("stop-remove-leaves-nothing", func(t *testing.T) { p.teardown(t, a) })
}

// containerPid is the host pid of a container's process, from CRI's
// verbose status.
func (p *pod) containerPid(t *testing.T, id string) int {
	t.Helper()
	var info struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	p.e.inspect(t, "inspect", id, &info)
	if info.Info.Pid <= 0 {
		t.Fatalf("crictl inspect %s: no pid", id)
	}
	return info.Info.Pid
}

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestSysctl(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("cat /proc/sys/net/ipv4/ip_forward"), func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	}))
	if out != "1\n" {
		t.Errorf("net.ipv4.ip_forward in the container: %q", out)
	}
}

// netnsHolder starts a process in a new network namespace (no unshare binary
// needed) and returns its /proc/PID/ns/net path; the process is killed at the
// end of the test.
func netnsHolder(t *testing.T) string {
	t.Helper()
	holder := exec.Command(tu.Busybox(t), "sleep", "1000")
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	return fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
}

func TestJoinNetworkNamespace(t *testing.T) {
	t.Parallel()
	nsPath := netnsHolder(t)
	want, err := os.Readlink(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	if want == self {
		t.Fatal("the holder did not get a network namespace of its own")
	}
	out := runOutput(t, with(sh("readlink /proc/self/ns/net"), func(s *specs.Spec) {
		for i := range s.Linux.Namespaces {
			if s.Linux.Namespaces[i].Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = nsPath
			}
		}
	}))
	if strings.TrimSpace(out) != want {
		t.Errorf("container's network namespace %q, want the holder's %q", out, want)
	}
}

func TestUserNamespace(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; ls /bin/busybox"), func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	}))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "0 100000 65536" ||
		strings.Join(strings.Fields(lines[1]), " ") != "0 200000 65536" || lines[2] != "0" || lines[3] != "/bin/busybox" {
		t.Errorf("user namespace: %q", out)
	}
}

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestJoinedUserNamespace: a container that joins a user namespace by path
// (as CRI pods under containerd 2 do: the namespace is pinned by containerd,
// its map 0:200000:65536, repeated in linux.uidMappings) and makes its own mount namespace inside it: its
// root is the namespace's (the init's mkdir of /dev/pts in its /dev tmpfs
// works), it gets a bind mount whose source is below a 0700 directory of
// the host's root (which that root may not enter), and process.oomScoreAdj
// is set although its /proc files belong to the host's root.
func TestJoinedUserNamespace(t *testing.T) {
	t.Parallel()
	holder := exec.Command("sleep", "infinity")
	holder.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 65536}},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := holder.Start(); err != nil {
		t.Fatalf("a process holding a user namespace: %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })

	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(private, "note"), []byte("through the parent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	adj := 321
	out := runOutput(t, with(sh("cat /proc/self/uid_map /proc/self/oom_score_adj /etc/hostname; id -u; test -d /dev/pts && echo pts"), func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", holder.Process.Pid)})
		// The namespace's own map, as containerd writes it beside the
		// path (runc refuses a joined user namespace without one).
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hostname", Type: "bind", Source: filepath.Join(private, "note"), Options: []string{"bind", "ro"}})
		s.Process.OOMScoreAdj = &adj
	}))
	got := strings.Fields(out)
	want := []string{"0", "200000", "65536", "321", "through", "the", "parent", "0", "pts"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("in the container: %q, want %q", got, want)
	}
}

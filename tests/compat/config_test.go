package compat

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/strata-runtime/strata/tests/cgroupfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// Configurations where runc 1.1.5 and a stricter reading could differ:
// each runs in the foreground with both runtimes.

// dockerProfile is tests/seccomp/default.json, Docker's default profile
// (defaultAction SCMP_ACT_ERRNO).
func dockerProfile(t *testing.T) *specs.LinuxSeccomp {
	repo, err := tu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(repo, "tests", "seccomp", "default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sc specs.LinuxSeccomp
	if err := json.Unmarshal(data, &sc); err != nil {
		t.Fatal(err)
	}
	return &sc
}

// stdoutHas checks that a container printed a line.
func stdoutHas(line string) func(result) error {
	return func(r result) error {
		if !strings.Contains("\n"+r.stdout, "\n"+line+"\n") {
			return fmt.Errorf("stdout %q lacks the line %q", r.stdout, line)
		}
		return nil
	}
}

// stderrHas checks that a failure names what failed.
func stderrHas(word string) func(result) error {
	return func(r result) error {
		if !strings.Contains(r.stderr, word) {
			return fmt.Errorf("stderr %q does not name %q", r.stderr, word)
		}
		return nil
	}
}

func TestSeccompUnknownSyscalls(t *testing.T) {
	t.Parallel()
	profile := dockerProfile(t)
	compare(t, func(s *session) {
		id := s.newID()
		// getpid (39) is allowed; kexec_load (246) is older than the
		// profile's newest syscall and not listed: the default errno;
		// lsm_set_self_attr (460, Linux 6.8) is newer than every syscall
		// libseccomp 2.5 knows: runc answers ENOSYS so that libc falls
		// back, as it does for clone3 on older kernels.
		bundle := s.bundle(id, args("probe", "39", "246", "460"), func(sp *specs.Spec) { sp.Linux.Seccomp = profile })
		s.runx(expect{check: both(exitsWith(0), stdoutHas("39 ok"), stdoutHas("246 EPERM"))}, "run", "-b", bundle, id)
	})
}

// TestSeccompNotifyWrite: SCMP_ACT_NOTIFY on write would deadlock the
// runtime's own writes to the agent; runc refuses the profile.
func TestSeccompNotifyWrite(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		sock := filepath.Join(s.dir, "agent.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		// An agent that takes the connection and never answers.
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
			}
		}()
		id := s.newID()
		bundle := s.bundle(id, args("true"), func(sp *specs.Spec) {
			sp.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: sock,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"write"}, Action: specs.ActNotify}}}
		})
		s.runx(expect{check: fails, timeout: 10 * time.Second}, "run", "-b", bundle, id)
	})
}

// TestSeccompBeforeStartContainerHooks: runc loads the filter before the
// startContainer hooks run (in the container), so they are filtered too.
func TestSeccompBeforeStartContainerHooks(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		id := s.newID()
		bundle := s.bundle(id, args("true"), func(sp *specs.Spec) {
			sp.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}}}
			sp.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/mkdir", Args: []string{"mkdir", "/tmp/by-hook"}}}}
		})
		s.run("run", "-b", bundle, id)
		s.note("the hook's mkdir under the filter", shortExistence(filepath.Join(bundle, "rootfs", "tmp", "by-hook")))
	})
}

func TestDeviceAccess(t *testing.T) {
	t.Parallel()
	for _, access := range []string{"rwm", "rw", "m", "rwa", ""} {
		exp := expect{}
		if access == "rwa" {
			exp = expect{
				deliberate: "config-linux.md: access is a composition of r, w and m; strata refuses another letter, runc 1.1 ignores it",
				strata:     both(fails, stderrHas(`access "rwa"`)),
			}
		}
		if access == "" {
			exp = expect{
				deliberate: "config-linux.md: access is OPTIONAL; strata reads an empty one as all of rwm, runc refuses it",
				strata:     stdoutIs("wrote\n"),
			}
		}
		t.Run("access-"+access, func(t *testing.T) {
			t.Parallel()
			compare(t, func(s *session) {
				id := s.newID()
				major, minor := int64(1), int64(3)
				bundle := s.bundle(id, sh("echo x > /dev/null && echo wrote"), func(sp *specs.Spec) {
					sp.Linux.Resources.Devices = append(sp.Linux.Resources.Devices,
						specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: access})
				})
				s.runx(exp, "run", "-b", bundle, id)
			})
		})
	}
}

func TestNamespaceTwice(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		id := s.newID()
		bundle := s.bundle(id, args("true"), func(sp *specs.Spec) {
			sp.Linux.Namespaces = append(sp.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		})
		// config-linux.md (Namespaces): the runtime MUST generate an
		// error; runc 1.1.5 refuses it too ("duplicated ns").
		s.runx(expect{check: fails}, "run", "-b", bundle, id)
	})
}

// TestNonEmptyCgroup: the container's cgroup exists and holds a process
// already. runc warns and goes on (1.2 will refuse).
func TestNonEmptyCgroup(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		id := s.newID()
		bundle := s.bundle(id, sh("echo ran"))
		holder := startHolder(t, id)
		defer holder.Kill()
		s.runx(expect{check: stdoutIs("ran\n")}, "run", "-b", bundle, id)
	})
}

// startHolder starts a host process in the cgroup the container id will
// use, in every hierarchy but cpuset (the cleanup kills it with the
// cgroups).
func startHolder(t *testing.T, id string) *os.Process {
	t.Helper()
	cmd := exec.Command(tu.Busybox(t), "sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, h := range cgroupfs.Hierarchies() {
		// A v1 cpuset cgroup takes no process before its cpus and mems
		// are set: the runtime sets them, so the holder stays out of it.
		if filepath.Base(h) == "cpuset" {
			continue
		}
		dir := filepath.Join(h, tu.CgroupParent, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatalf("moving the holder into %s: %v", dir, err)
		}
	}
	return cmd.Process
}

func TestProcSymlink(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		id := s.newID()
		bundle := s.bundle(id, args("true"))
		proc := filepath.Join(bundle, "rootfs", "proc")
		if err := os.Remove(proc); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/tmp", proc); err != nil {
			t.Fatal(err)
		}
		s.runx(expect{check: both(fails, stderrHas("proc"))}, "run", "-b", bundle, id)
	})
}

// TestReadonlyDev: /dev mounted with "ro". runc makes the default device
// nodes first and makes the mount read-only after.
func TestReadonlyDev(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		id := s.newID()
		bundle := s.bundle(id, args("true"), func(sp *specs.Spec) {
			for i, m := range sp.Mounts {
				if m.Destination == "/dev" {
					sp.Mounts[i].Options = append(m.Options, "ro")
				}
			}
		})
		s.runx(expect{check: succeeds}, "run", "-b", bundle, id)
	})
}

// TestUsernsBindSourceUnreadable: a bind mount source only root can
// read, in a container whose root is mapped to 100000: runc opens the
// source as itself (root), so the mount works.
func TestUsernsBindSourceUnreadable(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		src := filepath.Join(s.dir, "private")
		if err := os.Mkdir(src, 0o700); err != nil {
			t.Fatal(err)
		}
		id := s.newID()
		bundle := s.bundle(id, sh("test -d /mnt/private && echo mounted"), func(sp *specs.Spec) {
			sp.Linux.Namespaces = append(sp.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			sp.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			sp.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			sp.Mounts = append(sp.Mounts, specs.Mount{Destination: "/mnt/private", Type: "bind", Source: src, Options: []string{"rbind"}})
		})
		// The mount point exists: the mapped root could not make it in a
		// rootfs owned by the host's root.
		if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "mnt", "private"), 0o755); err != nil {
			t.Fatal(err)
		}
		s.runx(expect{check: stdoutIs("mounted\n")}, "run", "-b", bundle, id)
	})
}

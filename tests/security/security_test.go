// Package security is strata's regression suite of container escapes: each
// test names the CVE (in runc or crun) whose attack it sets up, and asserts
// that the runtime refuses the setup or is unaffected by it. It runs against
// the built binary like tests/integration (RUNTIME=/usr/sbin/runc runs it
// against runc; wording checks apply to strata only).
//
// The attacks are real: against a vulnerable runtime (runc 1.1.5 here) the
// CVE-2025-31133 test does overwrite the host's kernel.core_pattern.
// guardCorePattern puts it back and fails the test.
package security

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestMain(m *testing.M) {
	// The binary is also the symlink-swap race tests' createRuntime hook
	// and naive mounter (mountrace_test.go).
	if out := os.Getenv(mountinfoHookEnv); out != "" {
		os.Exit(mountinfoHook(out))
	}
	if arg := os.Getenv(naiveMounterEnv); arg != "" {
		os.Exit(naiveMounter(arg))
	}
	tu.Main(m)
}

func sh(script string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", script} }
}

func with(fns ...func(*specs.Spec)) func(*specs.Spec) {
	return func(s *specs.Spec) {
		for _, f := range fns {
			f(s)
		}
	}
}

// corePatternMu runs the tests that guard kernel.core_pattern one at a
// time: against a vulnerable runtime one overwrites it, and another
// running then would take the overwritten value for the original, fail
// for it, and "restore" it.
var corePatternMu sync.Mutex

// guardCorePattern fails the test if the host's kernel.core_pattern
// changed during it, and restores it.
func guardCorePattern(t *testing.T) {
	t.Helper()
	const path = "/proc/sys/kernel/core_pattern"
	corePatternMu.Lock()
	before, err := os.ReadFile(path)
	if err != nil {
		corePatternMu.Unlock()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer corePatternMu.Unlock()
		if now, _ := os.ReadFile(path); !bytes.Equal(now, before) {
			os.WriteFile(path, before, 0o644)
			t.Errorf("the host's kernel.core_pattern was overwritten with %q (restored)", now)
		}
	})
}

func sleeper(s *specs.Spec) { s.Process.Args = []string{"sleep", "1000"} }

// refused checks that a command failed and, for strata, that stderr names
// what was wrong.
func refused(t *testing.T, r tu.Result, substr string) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("expected the runtime to refuse, got success: %s", r)
	}
	if tu.IsStrata() && !strings.Contains(r.Stderr, substr) {
		t.Errorf("stderr does not name %q: %q", substr, r.Stderr)
	}
}

// withoutDevTmpfs drops the /dev tmpfs (and what is mounted below it):
// /dev is then the rootfs' own directory, which the image controls.
func withoutDevTmpfs(s *specs.Spec) {
	var kept []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination != "/dev" && !strings.HasPrefix(m.Destination, "/dev/") {
			kept = append(kept, m)
		}
	}
	s.Mounts = kept
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// CVE-2019-5736: a container process overwrote the host's runc through
// /proc/<runc pid>/exe. strata runs every init from a sealed read-only
// overlay of its binary, and the init is non-dumpable.
func TestCVE_2019_5736_ProcExeNotWritable(t *testing.T) {
	t.Parallel()
	before := fileHash(t, tu.RuntimePath())
	c := tu.NewContainer(t, sleeper)
	tu.Must(t, c.Create())
	pid := c.State().Pid
	// From the host: the created container's init is strata's exec stage.
	// Its exe must not open for writing, and not merely because it is
	// busy (ETXTBSY goes away when it exits): the mount is read-only.
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	if tu.IsStrata() {
		_, err := os.OpenFile(exe, os.O_WRONLY, 0)
		if !errors.Is(err, unix.EROFS) {
			t.Errorf("open %s for writing: %v, want EROFS (sealed read-only binary)", exe, err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(exe, &st); err != nil || st.Flags&unix.ST_RDONLY == 0 {
			t.Errorf("the init's binary is not on a read-only mount (flags %#x, %v)", st.Flags, err)
		}
	}
	// From inside, while exec runs a process in the container: pid 1 is
	// the waiting init; the attack opened its exe for writing.
	r := c.Runtime("exec", c.ID, "sh", "-c", "echo pwned >> /proc/1/exe && echo WROTE")
	if strings.Contains(r.Stdout, "WROTE") {
		t.Errorf("a container process wrote to the init's binary: %s", r)
	}
	// The exec'd process's own init stage, reached by a #!/proc/self/exe
	// interpreter, is the same sealed binary: write through it too.
	script := filepath.Join(c.Rootfs(), "evil.sh")
	if err := os.WriteFile(script, []byte("#!/proc/self/exe\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = c.Runtime("exec", c.ID, "sh", "-c", "/evil.sh & p=$!; echo pwned >> /proc/$p/exe && echo WROTE; wait")
	if strings.Contains(r.Stdout, "WROTE") {
		t.Errorf("a container process wrote to the runtime binary via #!/proc/self/exe: %s", r)
	}
	tu.Must(t, c.Runtime("start", c.ID))
	if fileHash(t, tu.RuntimePath()) != before {
		t.Fatal("the runtime binary on the host changed")
	}
}

// CVE-2016-9962: the init kept a host fd open and was ptrace-able by the
// container before execve. strata's init is non-dumpable until execve: a
// process in the container (without CAP_SYS_PTRACE) cannot read its fds
// or memory.
func TestCVE_2016_9962_InitNotDumpable(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sleeper)
	tu.Must(t, c.Create())
	// Listing fd numbers needs only the directory's mode; following one
	// (readlink, open) needs ptrace access, which non-dumpable refuses.
	r := c.Runtime("exec", c.ID, "sh", "-c", `n=0; for f in /proc/1/fd/*; do n=$((n+1))
readlink $f && echo FOLLOWED; cat $f </dev/null >/dev/null 2>&1 && echo OPENED; done
echo "fds=$n"; cat /proc/1/environ && echo READ; cat /proc/1/mem 2>/dev/null && echo MEM; true`)
	for _, bad := range []string{"FOLLOWED", "OPENED", "READ", "MEM"} {
		if strings.Contains(r.Stdout, bad) {
			t.Errorf("the waiting init is reachable from the container (%s): %s", bad, r)
		}
	}
	if strings.Contains(r.Stdout, "fds=0") || !strings.Contains(r.Stderr, "Permission denied") {
		t.Errorf("expected the init's fds to be listed but refused with EACCES: %s", r)
	}
}

// CVE-2024-21626: a leaked host directory fd let `cwd: /proc/self/fd/N`
// (or an exec'd process) start outside the rootfs.
func TestCVE_2024_21626_NoHostFds(t *testing.T) {
	t.Parallel()
	out := tu.NewContainer(t, func(s *specs.Spec) { s.Process.Args = []string{"ls", "/proc/self/fd"} }).MustRun()
	if got := strings.Fields(out); strings.Join(got, " ") != "0 1 2 3" {
		t.Errorf("fds in the container: %q, want only stdio and ls's own 3", got)
	}
	c := tu.NewContainer(t, sleeper)
	tu.Must(t, c.Run("--detach"))
	r := tu.Must(t, c.Runtime("exec", c.ID, "ls", "/proc/self/fd"))
	if got := strings.Fields(r.Stdout); strings.Join(got, " ") != "0 1 2 3" {
		t.Errorf("fds in an exec'd process: %q", got)
	}
}

func TestCVE_2024_21626_CwdThroughFd(t *testing.T) {
	t.Parallel()
	for fd := 3; fd <= 9; fd++ {
		t.Run(fmt.Sprint(fd), func(t *testing.T) {
			t.Parallel()
			c := tu.NewContainer(t, func(s *specs.Spec) {
				s.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", fd)
				s.Process.Args = []string{"sh", "-c", "pwd; ls"}
			})
			refused(t, c.Run(), "process.cwd")
		})
	}
}

// CVE-2025-31133: masking bind-mounted the container's /dev/null over
// masked paths; an image whose /dev/null was a symlink (to a procfs file)
// or a regular file turned masking into a write primitive. With no /dev
// tmpfs the image's /dev is used: strata must refuse, and mask nothing
// with the wrong file.
func TestCVE_2025_31133_MaskWithFakeDevNull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		plant func(null string) error
	}{
		{"symlink", func(null string) error { return os.Symlink("/proc/sys/kernel/core_pattern", null) }},
		{"regular file", func(null string) error { return os.WriteFile(null, []byte("not a device\n"), 0o666) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			guardCorePattern(t)
			c := tu.NewContainer(t, with(withoutDevTmpfs, sh(`echo "keys=$(wc -c < /proc/keys) null=$(stat -c %t:%T /dev/null)"`)))
			null := filepath.Join(c.Rootfs(), "dev/null")
			os.Remove(null)
			if err := tc.plant(null); err != nil {
				t.Fatal(err)
			}
			r := c.Run()
			if r.Code == 0 {
				// Unaffected is acceptable: the runtime replaced the
				// image's file with the real device before masking.
				if strings.TrimSpace(r.Stdout) != "keys=0 null=1:3" {
					t.Errorf("masked with something other than the null device: %s", r)
				}
			} else if tu.IsStrata() && !strings.Contains(r.Stderr, "/dev/null") {
				t.Errorf("refusal does not name /dev/null: %q", r.Stderr)
			}
		})
	}
}

// CVE-2025-52565: /dev/console was bind-mounted over whatever the image
// had there, a symlink included (to a procfs file, say).
func TestCVE_2025_52565_ConsoleSymlink(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(withoutDevTmpfs, func(s *specs.Spec) { s.Process.Terminal = true }))
	// The image's /dev, with a devpts to get a pty from.
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"newinstance", "ptmxmode=0666"}})
	c.WriteSpec()
	os.MkdirAll(filepath.Join(c.Rootfs(), "dev/pts"), 0o755)
	os.Remove(filepath.Join(c.Rootfs(), "dev/ptmx"))
	if err := os.Symlink("pts/ptmx", filepath.Join(c.Rootfs(), "dev/ptmx")); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(c.Rootfs(), "dev/console")
	os.Remove(console)
	if err := os.Symlink("/proc/sys/kernel/core_pattern", console); err != nil {
		t.Fatal(err)
	}
	guardCorePattern(t)
	sock, stop := consoleSocket(t)
	defer stop()
	r := c.Create("--console-socket", sock)
	refused(t, r, "/dev/console")
}

// CVE-2025-52881: the runtime's own writes to /proc (sysctl,
// oom_score_adj) were redirected by mounts the config placed over /proc.
// strata writes through a private procfs: a tmpfs over /proc/sys cannot
// take the write.
func TestCVE_2025_52881_ProcWritesNotRedirected(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}})
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		adj := 123
		s.Process.OOMScoreAdj = &adj
		s.Linux.ReadonlyPaths = nil
	}))
	tu.Must(t, c.Run("--detach"))
	pid := c.State().Pid
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-n", "cat", "/proc/sys/net/ipv4/ip_forward").Output()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("net.ipv4.ip_forward in the container's netns: %q %v, want 1", out, err)
	}
	if adj, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid)); strings.TrimSpace(string(adj)) != "123" {
		t.Errorf("oom_score_adj: %q, want 123", adj)
	}
	r := tu.Must(t, c.Runtime("exec", c.ID, "sh", "-c", "ls -A /proc/sys | wc -l"))
	if strings.TrimSpace(r.Stdout) != "0" {
		t.Errorf("the sysctl landed in the container's tmpfs over /proc/sys: %q", r.Stdout)
	}
}

// CVE-2022-29162: runc gave processes inheritable capabilities nobody
// asked for; with a file capability or ambient set they became real.
func TestCVE_2022_29162_NoInheritableCaps(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, func(s *specs.Spec) {
		caps := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Permitted: caps, Effective: caps}
	}))
	tu.Must(t, c.Run("--detach"))
	for _, args := range [][]string{{"grep", "CapInh", "/proc/1/status"}, {"grep", "CapInh", "/proc/self/status"}} {
		r := tu.Must(t, c.Runtime(append([]string{"exec", c.ID}, args...)...))
		if f := strings.Fields(r.Stdout); len(f) != 2 || f[1] != "0000000000000000" {
			t.Errorf("%s: %q, want no inheritable capabilities", args[2], r.Stdout)
		}
	}
}

// A hostile config: each part is refused with a named error and nothing
// is left behind (NewContainer's guard). Where refusing is strata's choice
// (escape names what the part would make outside the rootfs), another
// runtime may instead run the container unaffected.
func TestHostileConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		plant  func(c *tu.Container) error
		want   string
		escape string // relative to the bundle
	}{
		{"proc on a symlink", nil, func(c *tu.Container) error {
			p := filepath.Join(c.Rootfs(), "proc")
			os.RemoveAll(p)
			return os.Symlink("/tmp", p)
		}, "proc", ""},
		{"device with a host path", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/../../etc/evil", Type: "c", Major: 1, Minor: 3}}
		}, func(c *tu.Container) error {
			// What a runtime that followed the path out would need.
			return os.Mkdir(filepath.Join(c.Bundle, "etc"), 0o755)
		}, "linux.devices[0]", "etc/evil"},
		{"sysctl outside the namespaces", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.core_pattern": "|/tmp/evil"}
		}, nil, "kernel.core_pattern", ""},
		{"net sysctl without a network namespace", func(s *specs.Spec) {
			var kept []specs.LinuxNamespace
			for _, ns := range s.Linux.Namespaces {
				if ns.Type != specs.NetworkNamespace {
					kept = append(kept, ns)
				}
			}
			s.Linux.Namespaces = kept
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, nil, "net.ipv4.ip_forward", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			guardCorePattern(t)
			forward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
			c := tu.NewContainer(t, tc.mutate)
			if tc.plant != nil {
				if err := tc.plant(c); err != nil {
					t.Fatal(err)
				}
			}
			r := c.Run()
			if tc.escape != "" {
				if _, err := os.Lstat(filepath.Join(c.Bundle, tc.escape)); err == nil {
					t.Errorf("the runtime made %s in the bundle, outside the rootfs: %s", tc.escape, r)
				}
			}
			// Unaffected is acceptable from another runtime: it kept
			// the part inside the rootfs.
			if tc.escape == "" || tu.IsStrata() || r.Code != 0 {
				refused(t, r, tc.want)
			}
			if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); !bytes.Equal(now, forward) {
				t.Fatalf("host ip_forward changed")
			}
		})
	}
}

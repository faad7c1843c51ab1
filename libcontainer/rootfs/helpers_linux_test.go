package rootfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/strata-runtime/strata/libcontainer/specconv"
	"golang.org/x/sys/unix"
)

// The namespace tests re-execute the test binary as a "container init": a
// child in new mount, pid, uts, ipc and cgroup namespaces that runs one of
// the functions in children and reports through its exit status and
// stderr. The mount namespace dies with the child, so nothing stays
// mounted on the host whatever happens.
const (
	childEnv  = "STRATA_ROOTFS_TEST_CHILD"
	configEnv = "STRATA_ROOTFS_TEST_CONFIG"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(childMain(name))
	}
	os.Exit(m.Run())
}

// children maps a child's name to what it does in the new namespaces.
// Each test file adds its own in an init function.
var children = map[string]func(c *Config) error{}

func childMain(name string) int {
	var c Config
	if err := json.Unmarshal([]byte(os.Getenv(configEnv)), &c); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	f, ok := children[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "no child function", name)
		return 2
	}
	if err := f(&c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runChild runs children[name] with c in fresh namespaces and returns its
// stdout, stderr and exit error; attr may add clone flags and id maps.
func runChild(t *testing.T, name string, c *Config, attr *syscall.SysProcAttr) (string, string, error) {
	t.Helper()
	stdout, stderr, err := startChild(name, c, attr)
	if errors.Is(err, errChildSetup) {
		t.Fatal(err)
	}
	return stdout, stderr, err
}

var errChildSetup = errors.New("cannot start the child")

// startChild is runChild for callers without a testing.T (a child that
// starts a nested one).
func startChild(name string, c *Config, attr *syscall.SysProcAttr) (string, string, error) {
	js, err := json.Marshal(c)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", errChildSetup, err)
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"="+name, configEnv+"="+string(js))
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Cloneflags |= unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	for _, ns := range c.Spec.Linux.Namespaces {
		if ns.Type == specs.CgroupNamespace {
			attr.Cloneflags |= unix.CLONE_NEWCGROUP
		}
	}
	attr.Pdeathsig = unix.SIGKILL
	cmd.SysProcAttr = attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustRunChild fails the test unless the child succeeds.
func mustRunChild(t *testing.T, name string, c *Config) string {
	t.Helper()
	requireRoot(t)
	stdout, stderr, err := runChild(t, name, c, nil)
	if err != nil {
		t.Fatalf("child %s: %v\nstderr:\n%s\nstdout:\n%s", name, err, stderr, stdout)
	}
	return stdout
}

// mustFailChild fails the test unless the child fails with want in stderr.
func mustFailChild(t *testing.T, name string, c *Config, want string) {
	t.Helper()
	requireRoot(t)
	stdout, stderr, err := runChild(t, name, c, nil)
	if err == nil {
		t.Fatalf("child %s succeeded, want an error containing %q\nstdout:\n%s", name, want, stdout)
	}
	if !strings.Contains(stderr, want) {
		t.Fatalf("child %s: stderr does not contain %q:\n%s", name, want, stderr)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates namespaces and mounts: run it as root")
	}
}

// newBundle makes a bundle directory with a busybox rootfs and a config
// based on runc's default spec, without a terminal.
func newBundle(t *testing.T) *Config {
	t.Helper()
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, "/bin/busybox", filepath.Join(rootfs, "bin", "busybox"), 0o755)
	for _, applet := range []string{"sh", "ls", "cat", "stat"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	spec := specconv.Example()
	spec.Root.Path = rootfs
	spec.Process.Terminal = false
	return &Config{Spec: spec, Rootfs: rootfs, Bundle: bundle}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

// setupAll is the init's sequence without the createContainer hooks.
func setupAll(c *Config) error {
	if err := Prepare(c); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := Pivot(c); err != nil {
		return fmt.Errorf("pivot: %w", err)
	}
	if err := Finalize(c); err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	return nil
}

// hostMountsUnder lists the host's mount points below dir.
func hostMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// Checks used inside children after the pivot.

func expectErrno(what string, err error, want unix.Errno) error {
	if err == nil {
		return fmt.Errorf("%s: succeeded, want %v", what, want)
	}
	var errno unix.Errno
	if !errors.As(err, &errno) || errno != want {
		return fmt.Errorf("%s: %v, want %v", what, err, want)
	}
	return nil
}

func checkCharDevice(path string, major, minor uint32, perm uint32) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != major || unix.Minor(st.Rdev) != minor {
		return fmt.Errorf("%s is %s, want char device %d:%d", path, describe(&st), major, minor)
	}
	if st.Mode&0o7777 != perm {
		return fmt.Errorf("%s has mode %#o, want %#o", path, st.Mode&0o7777, perm)
	}
	return nil
}

func checkSymlink(path, want string) error {
	got, err := os.Readlink(path)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s -> %s, want -> %s", path, got, want)
	}
	return nil
}

func checkFSType(path string, magic int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	if st.Type != magic {
		return fmt.Errorf("%s: filesystem magic %#x, want %#x", path, st.Type, magic)
	}
	return nil
}

// all runs checks and joins their failures.
func all(checks ...error) error {
	var msgs []string
	for _, err := range checks {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%d checks failed:\n  %s", len(msgs), strings.Join(msgs, "\n  "))
	}
	return nil
}

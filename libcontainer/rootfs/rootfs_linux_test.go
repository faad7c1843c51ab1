package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/strata-runtime/strata/libcontainer/specconv"
	"golang.org/x/sys/unix"
)

func init() {
	children["example"] = func(c *Config) error {
		if err := setupAll(c); err != nil {
			return err
		}
		return checkExampleSpec()
	}
	children["setup"] = setupAll
}

// checkExampleSpec checks, from inside the container, what runc's
// default spec promises.
func checkExampleSpec() error {
	cwd, _ := os.Getwd()
	var cwdErr, coreErr error
	if cwd != "/" {
		cwdErr = fmt.Errorf("cwd is %q, want /", cwd)
	}
	// /dev/core is made only where the kernel has /proc/kcore (this
	// VM's has not); /proc/kcore itself is masked.
	if _, err := os.Stat("/proc/kcore"); err == nil {
		coreErr = checkSymlink("/dev/core", "/proc/kcore")
	}
	return all(
		cwdErr,
		checkCharDevice("/dev/null", 1, 3, 0o666),
		checkCharDevice("/dev/zero", 1, 5, 0o666),
		checkCharDevice("/dev/full", 1, 7, 0o666),
		checkCharDevice("/dev/random", 1, 8, 0o666),
		checkCharDevice("/dev/urandom", 1, 9, 0o666),
		checkCharDevice("/dev/tty", 5, 0, 0o666),
		checkSymlink("/dev/fd", "/proc/self/fd"),
		checkSymlink("/dev/stdin", "/proc/self/fd/0"),
		checkSymlink("/dev/stdout", "/proc/self/fd/1"),
		checkSymlink("/dev/stderr", "/proc/self/fd/2"),
		coreErr,
		checkSymlink("/dev/ptmx", "pts/ptmx"),
		checkCharDevice("/dev/pts/ptmx", 5, 2, 0o666),
		checkMasked(specconv.Example().Linux.MaskedPaths),
		expectErrno("write /proc/sys/kernel/hostname", os.WriteFile("/proc/sys/kernel/hostname", []byte("x"), 0), unix.EROFS),
		expectErrno("write /proc/sys/vm/overcommit_memory", os.WriteFile("/proc/sys/vm/overcommit_memory", []byte("0"), 0), unix.EROFS),
		expectErrno("write /proc/irq/default_smp_affinity", os.WriteFile("/proc/irq/default_smp_affinity", []byte("1"), 0), unix.EROFS),
		expectErrno("mkdir /sys/x", os.Mkdir("/sys/x", 0o755), unix.EROFS),
		expectErrno("mkdir /sys/fs/cgroup/x", os.Mkdir("/sys/fs/cgroup/x", 0o755), unix.EROFS),
		expectErrno("mkdir /sys/fs/cgroup/memory/x", os.Mkdir("/sys/fs/cgroup/memory/x", 0o755), unix.EROFS),
		checkContains("/sys/fs/cgroup/memory/cgroup.procs", "1\n"),
		expectErrno("create /etc/x (root.readonly)", os.WriteFile("/etc/x", nil, 0o644), unix.EROFS),
		os.WriteFile("/dev/shm/x", []byte("ok"), 0o644),
		checkFSType("/dev/shm", unix.TMPFS_MAGIC),
		checkFSType("/dev/mqueue", 0x19800202),
		checkFSType("/dev/pts", unix.DEVPTS_SUPER_MAGIC),
		checkFSType("/sys", unix.SYSFS_MAGIC),
		checkMode("/dev/shm", os.ModeDir|os.ModeSticky|0o777),
		checkNoHostMounts(),
		checkBusybox(),
	)
}

// checkMasked checks that every masked path that exists is empty, and
// that /proc/keys (present on every kernel here) is one of them.
func checkMasked(paths []string) error {
	sawKeys := false
	for _, p := range paths {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil || len(entries) != 0 {
				return fmt.Errorf("masked %s: %d entries, err %v; want empty", p, len(entries), err)
			}
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil || len(data) != 0 {
			return fmt.Errorf("masked %s: read %d bytes, err %v; want empty", p, len(data), err)
		}
		sawKeys = sawKeys || p == "/proc/keys"
	}
	if !sawKeys {
		return errors.New("/proc/keys is not masked")
	}
	return nil
}

func checkContains(path, want string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), want) {
		return fmt.Errorf("%s: %q does not contain %q", path, data, want)
	}
	return nil
}

func checkMode(path string, want os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode() != want {
		return fmt.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
	return nil
}

// checkNoHostMounts checks that the old root is gone: only the
// container's own mounts are listed.
func checkNoHostMounts() error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (strings.HasPrefix(f[4], "/mnt") || strings.HasPrefix(f[4], "/work")) {
			return fmt.Errorf("a host mount is still visible: %s", line)
		}
	}
	return nil
}

// checkBusybox runs a program of the container image in the new root.
func checkBusybox() error {
	out, err := exec.Command("/bin/busybox", "ls", "/dev").CombinedOutput()
	if err != nil {
		return fmt.Errorf("busybox ls /dev: %v: %s", err, out)
	}
	for _, want := range []string{"null", "ptmx", "pts", "shm", "mqueue", "urandom"} {
		if !bytes.Contains(out, []byte(want+"\n")) {
			return fmt.Errorf("busybox ls /dev: no %q in %q", want, out)
		}
	}
	return nil
}

func TestExampleSpec(t *testing.T) {
	t.Parallel()
	mustRunChild(t, "example", newBundle(t))
}

func TestExampleSpecNoPivot(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.NoPivot = true
	mustRunChild(t, "example", c)
}

func TestExampleSpecWithoutCgroupNamespace(t *testing.T) {
	// Without a cgroup namespace the container's cgroups are bound from
	// the host; cgroup.procs listing pid 1 shows it is its own cgroup.
	t.Parallel()
	c := newBundle(t)
	var ns []specs.LinuxNamespace
	for _, n := range c.Spec.Linux.Namespaces {
		if n.Type != specs.CgroupNamespace {
			ns = append(ns, n)
		}
	}
	c.Spec.Linux.Namespaces = ns
	mustRunChild(t, "example", c)
}

// TestNoMountLeak runs the default spec with the rootfs below a shared
// mount on the host; the host's mounts below the bundle must be the same
// afterwards.
func TestNoMountLeak(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	c := newBundle(t)
	dir := c.Bundle
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("cleanup: unmount %s: %v", dir, err)
		}
	})
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	before := hostMountsUnder(t, dir)
	if len(before) != 1 {
		t.Fatalf("mounts under %s before: %v, want just the bind", dir, before)
	}
	mustRunChild(t, "example", c)
	if after := hostMountsUnder(t, dir); len(after) != 1 {
		t.Fatalf("container mounts leaked to the host: %v", after)
	}
}

func init() {
	// sharedHost plays a host whose every mount is shared (systemd's
	// default; this VM's "/" is private, so the real host cannot show a
	// leak): it runs the container init in a nested mount namespace and
	// checks its own mount table is unchanged afterwards, so neither the
	// spec's mounts nor the detach of the old root propagated back.
	children["shared-host"] = func(c *Config) error {
		if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
			return err
		}
		before, err := stableMounts(c.Bundle)
		if err != nil {
			return err
		}
		if _, stderr, err := startChild("example", c, nil); err != nil {
			return fmt.Errorf("container: %v: %s", err, stderr)
		}
		after, err := stableMounts(c.Bundle)
		if err != nil {
			return err
		}
		if before != after {
			return fmt.Errorf("mounts changed on the host:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		return nil
	}
}

// stableMounts is this namespace's mountinfo without the mounts other
// tests make in the temporary directory: when they remove their mount
// points on the host, the kernel detaches the copies here too.
func stableMounts(bundle string) (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	var keep []string
	tmp := os.TempDir()
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && isBelow(f[4], tmp) && !isBelow(f[4], bundle) && f[4] != bundle {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n"), nil
}

func TestNoMountLeakToSharedHost(t *testing.T) {
	t.Parallel()
	for _, prop := range []string{"", "rslave", "rprivate", "private", "slave"} {
		for _, noPivot := range []bool{false, true} {
			t.Run(fmt.Sprintf("rootfsPropagation=%s,noPivot=%v", prop, noPivot), func(t *testing.T) {
				t.Parallel()
				c := newBundle(t)
				c.Spec.Linux.RootfsPropagation = prop
				c.NoPivot = noPivot
				mustRunChild(t, "shared-host", c)
			})
		}
	}
}

func TestRootfsPropagationShared(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.Spec.Linux.RootfsPropagation = "rshared"
	mustRunChild(t, "example", c)
}

func TestProcOnSymlinkRefused(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	proc := filepath.Join(c.Rootfs, "proc")
	if err := os.Remove(proc); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/tmp", proc); err != nil {
		t.Fatal(err)
	}
	mustFailChild(t, "setup", c, `mounts[0]: destination "/proc": target is a symlink in the rootfs`)
}

func TestSysfsOnFileRefused(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	sys := filepath.Join(c.Rootfs, "sys")
	if err := os.Remove(sys); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sys, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustFailChild(t, "setup", c, `mounts[5]: destination "/sys": target is not a directory in the rootfs`)
}

func init() {
	// The container (a hook, or a process sharing /dev) replaces
	// /dev/null between Prepare and Finalize.
	replaceDevNull := func(with func(path string) error) func(c *Config) error {
		return func(c *Config) error {
			if err := Prepare(c); err != nil {
				return err
			}
			null := filepath.Join(c.Rootfs, "dev", "null")
			if err := os.Remove(null); err != nil {
				return err
			}
			if err := with(null); err != nil {
				return err
			}
			if err := Pivot(c); err != nil {
				return err
			}
			return Finalize(c)
		}
	}
	children["devnull-file"] = replaceDevNull(func(p string) error { return os.WriteFile(p, []byte("secret"), 0o666) })
	children["devnull-symlink"] = replaceDevNull(func(p string) error { return os.Symlink("/etc/passwd", p) })
	children["devnull-zero"] = replaceDevNull(func(p string) error {
		return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5)))
	})
}

func TestMaskedPathsRefuseFakeDevNull(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"devnull-file":    "(a regular file)",
		"devnull-symlink": "(a symlink)",
		"devnull-zero":    "(char device 1:5)",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newBundle(t)
			c.Spec.Linux.MaskedPaths = []string{"/proc/no-such-file", "/proc/keys"}
			mustFailChild(t, name, c,
				`maskedPaths[1] "/proc/keys": /dev/null in the container is not the char device 1:3 `+want)
		})
	}
}

func init() {
	children["devices"] = func(c *Config) error {
		if err := setupAll(c); err != nil {
			return err
		}
		var st unix.Stat_t
		var owner error
		if err := unix.Stat("/dev/custom/mynull", &st); err != nil {
			owner = err
		} else if st.Uid != 1000 || st.Gid != 1001 {
			owner = fmt.Errorf("/dev/custom/mynull owned by %d:%d, want 1000:1001", st.Uid, st.Gid)
		}
		var fifo error
		if err := unix.Lstat("/dev/myfifo", &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o777 != 0o640 {
			fifo = fmt.Errorf("/dev/myfifo: mode %#o err %v, want fifo 0640", st.Mode, err)
		}
		return all(
			checkCharDevice("/dev/custom/mynull", 1, 3, 0o600),
			owner,
			fifo,
			// linux.devices overrides the default node of the same path.
			checkCharDevice("/dev/tty", 5, 0, 0o620),
		)
	}
}

func TestLinuxDevices(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	mode := func(m os.FileMode) *os.FileMode { return &m }
	id := func(i uint32) *uint32 { return &i }
	c.Spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/custom/mynull", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o600), UID: id(1000), GID: id(1001)},
		{Path: "/dev/myfifo", Type: "p", FileMode: mode(0o640)},
		{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: mode(0o620)},
	}
	mustRunChild(t, "devices", c)
}

func TestLinuxDevicesBadType(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.Spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/ok", Type: "c", Major: 1, Minor: 3},
		{Path: "/dev/bad", Type: "x", Major: 1, Minor: 3},
	}
	mustFailChild(t, "setup", c, `linux.devices[1] "/dev/bad": type "x": expected c, b, u or p`)
}

func init() {
	children["masked-dir"] = func(c *Config) error {
		if err := setupAll(c); err != nil {
			return err
		}
		entries, err := os.ReadDir("/secret/dir")
		var empty error
		if err != nil || len(entries) != 0 {
			empty = fmt.Errorf("/secret/dir: %d entries, err %v; want masked (empty)", len(entries), err)
		}
		return all(empty,
			expectErrno("create in masked dir", os.WriteFile("/secret/dir/new", nil, 0o644), unix.EROFS))
	}
}

func TestMaskedDirectoryAndMissingPaths(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	if err := os.MkdirAll(filepath.Join(c.Rootfs, "secret/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Rootfs, "secret/dir/key"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Spec.Linux.MaskedPaths = append(c.Spec.Linux.MaskedPaths, "/secret/dir", "/does/not/exist")
	c.Spec.Linux.ReadonlyPaths = append(c.Spec.Linux.ReadonlyPaths, "/missing/too")
	mustRunChild(t, "masked-dir", c)
}

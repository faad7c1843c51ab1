package testutil

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/strata-runtime/strata/tests/rootfs"
)

// CgroupParent is the cgroup every test container lives below. Tests never
// leave a container's cgroupsPath empty or relative: that would put it below
// the test process's own cgroup, which belongs to the machine.
const CgroupParent = "/strata-test"

// Container is one test container: its ID, a bundle holding a private copy of
// the busybox rootfs, and a --root state directory of its own.
type Container struct {
	t      testing.TB
	ID     string
	Dir    string // t.TempDir: bundle and root live below it
	Bundle string
	Root   string
	Spec   *specs.Spec
}

// NewContainer makes a bundle from the busybox rootfs with BaseSpec, changed by
// mutate (may be nil), and registers a cleanup that force-deletes the
// container, removes its cgroups and checks that nothing was left behind.
func NewContainer(t testing.TB, mutate func(*specs.Spec)) *Container {
	t.Helper()
	id := UniqueID(t)
	dir := t.TempDir()
	// A mapped root in a user namespace must be able to reach the rootfs:
	// t.TempDir makes its directory and its parent 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := &Container{t: t, ID: id, Dir: dir, Bundle: filepath.Join(dir, "bundle"), Root: filepath.Join(dir, "root"), Spec: BaseSpec(id)}
	src, err := rootfs.Cached()
	if err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, filepath.Join(c.Bundle, "rootfs")); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(c.Spec)
	}
	c.WriteSpec()
	c.cleanupAfter(c.Guard())
	return c
}

// BundleContainer is a Container for a bundle the test made itself (with
// `strata bundle create`, say) rather than NewContainer's copy of busybox: it
// reads the bundle's config.json, puts the container in its own cgroup below
// CgroupParent, and registers NewContainer's cleanup, the guard watching the
// bundle too.
func BundleContainer(t testing.TB, bundle string) *Container {
	t.Helper()
	id := UniqueID(t)
	dir := t.TempDir()
	c := &Container{t: t, ID: id, Dir: dir, Bundle: bundle, Root: filepath.Join(dir, "root"), Spec: &specs.Spec{}}
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, c.Spec); err != nil {
		t.Fatalf("%s/config.json: %v", bundle, err)
	}
	if c.Spec.Linux == nil {
		c.Spec.Linux = &specs.Linux{}
	}
	c.Spec.Linux.CgroupsPath = CgroupParent + "/" + id
	c.WriteSpec()
	c.cleanupAfter(c.Guard(bundle))
	return c
}

// cleanupAfter registers the end of every test container: force-delete it,
// remove its cgroups, then report what guard finds left behind.
func (c *Container) cleanupAfter(guard *Guard) {
	c.t.Cleanup(func() {
		c.Runtime("delete", "--force", c.ID)
		removeCgroups(c.t, c.ID)
		guard.Check(c.t)
	})
}

// BaseSpec is runc's default spec with what every test needs changed: no
// terminal (there is none in CI), a writable rootfs, the container's own
// absolute cgroupsPath.
func BaseSpec(id string) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			Args:            []string{"true"},
			Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:             "/",
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Permitted: caps, Effective: caps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		},
		Hostname: "strata-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: CgroupParent + "/" + id,
			Resources:   &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// Rootfs is the host path of the container's private rootfs.
func (c *Container) Rootfs() string { return filepath.Join(c.Bundle, "rootfs") }

// WriteSpec writes c.Spec to the bundle's config.json.
func (c *Container) WriteSpec() {
	c.t.Helper()
	data, err := json.MarshalIndent(c.Spec, "", "\t")
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Bundle, "config.json"), data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// Runtime runs the runtime with this container's --root.
func (c *Container) Runtime(args ...string) Result {
	c.t.Helper()
	return Exec(c.t, Command(c.Root, c.ID, args...))
}

// Run runs the container in the foreground (`run --bundle B ID`), extra flags
// going before the ID; the result's Stdout is the container's.
func (c *Container) Run(flags ...string) Result {
	c.t.Helper()
	return c.Runtime(append(append([]string{"run", "--bundle", c.Bundle}, flags...), c.ID)...)
}

// MustRun is Run that fails the test unless the container exited 0, and
// returns its stdout.
func (c *Container) MustRun(flags ...string) string {
	c.t.Helper()
	r := c.Run(flags...)
	if r.Code != 0 {
		c.t.Fatalf("run failed: %s", r)
	}
	return r.Stdout
}

// Create runs `create --bundle B ID`, extra flags going before the ID.
func (c *Container) Create(flags ...string) Result {
	c.t.Helper()
	return c.Runtime(append(append([]string{"create", "--bundle", c.Bundle}, flags...), c.ID)...)
}

// Must fails the test unless r is a success, and returns r.
func Must(t testing.TB, r Result) Result {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("unexpected failure: %s", r)
	}
	return r
}

// State is what `state` prints (the OCI fields plus runc's extras).
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
	Rootfs      string            `json:"rootfs"`
	Created     string            `json:"created"`
	Owner       string            `json:"owner"`
}

// State runs `state ID` and decodes it, failing the test if it cannot.
func (c *Container) State() State {
	c.t.Helper()
	r := Must(c.t, c.Runtime("state", c.ID))
	var s State
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		c.t.Fatalf("state output is not JSON: %v\n%s", err, r.Stdout)
	}
	return s
}

// copyTree copies the rootfs: directories, regular files and symlinks, with
// modes and owners. Each test gets its own so containers may write to it.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		default:
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				return err
			}
		}
		if err := os.Chmod(target, info.Mode()&fs.ModePerm|info.Mode()&(fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid)); err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		return os.Lchown(target, int(st.Uid), int(st.Gid))
	})
}

// WaitStatus polls `state` until the container reports status, failing the test
// after timeout. A killed container turns "stopped" only once reaped.
func (c *Container) WaitStatus(status string, timeout time.Duration) State {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := c.State()
		if s.Status == status {
			return s
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("container %s: status %q after %v, want %q", c.ID, s.Status, timeout, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Busybox is the host path of the static busybox in the shared rootfs, for
// processes a test runs on the host (hooks, namespace holders).
func Busybox(t testing.TB) string {
	t.Helper()
	dir, err := rootfs.Cached()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "bin", "busybox")
}

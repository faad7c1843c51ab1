package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	children["userns"] = func(c *Config) error {
		if err := setupAll(c); err != nil {
			return err
		}
		return all(
			// Bound from the host: its owner and mode are the host's.
			checkCharDevice("/dev/null", 1, 3, 0o666),
			checkCharDevice("/dev/zero", 1, 5, 0o666),
			checkSymlink("/dev/ptmx", "pts/ptmx"),
			checkMasked([]string{"/proc/keys", "/proc/timer_list"}),
			expectErrno("write /proc/sys/kernel/hostname", os.WriteFile("/proc/sys/kernel/hostname", []byte("x"), 0), unix.EROFS),
			// sysfs cannot be mounted without owning a network namespace:
			// the host's /sys is bound instead, still read-only.
			checkFSType("/sys", unix.SYSFS_MAGIC),
			expectErrno("mkdir /sys/x", os.Mkdir("/sys/x", 0o755), unix.EROFS),
			expectErrno("create /etc/x (root.readonly)", os.WriteFile("/etc/x", nil, 0o644), unix.EROFS),
			checkFSType("/dev/pts", unix.DEVPTS_SUPER_MAGIC),
			checkNoHostMounts(),
		)
	}
}

// userNSBundle is the default spec in a user namespace that maps the
// host's ids 0-65535 onto themselves: the mounts are then as restricted
// as in any user namespace (mknod refused, inherited mounts locked) while
// the rootfs stays writable for the container's root.
func userNSBundle(t *testing.T) (*Config, *syscall.SysProcAttr) {
	c := newBundle(t)
	c.InUserNS = true
	var mounts []specs.Mount
	for _, m := range c.Spec.Mounts {
		// cgroup v1 cannot be mounted in a user namespace.
		if m.Type != "cgroup" {
			mounts = append(mounts, m)
		}
	}
	c.Spec.Mounts = mounts
	idmap := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	return c, &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, UidMappings: idmap, GidMappings: idmap}
}

func TestUserNamespace(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	for _, noPivot := range []bool{false, true} {
		t.Run(fmt.Sprintf("noPivot=%v", noPivot), func(t *testing.T) {
			t.Parallel()
			c, attr := userNSBundle(t)
			c.NoPivot = noPivot
			if _, stderr, err := runChild(t, "userns", c, attr); err != nil {
				t.Fatalf("child: %v\n%s", err, stderr)
			}
		})
	}
}

// A host mount on a file (a network namespace's under /run/netns, say)
// that the user namespace locks cannot be detached, nor covered with a
// tmpfs: --no-pivot covers it with the null device instead.
func TestNoPivotCoversLockedFileMount(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src"), filepath.Join(dir, "target")
	for _, f := range []string{src, target} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	c, attr := userNSBundle(t)
	c.NoPivot = true
	if _, stderr, err := runChild(t, "userns", c, attr); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr)
	}
}

func init() {
	children["idmap"] = func(c *Config) error {
		if err := setupAll(c); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Stat("/idm/f", &st); err != nil {
			return err
		}
		if st.Uid != 1000 || st.Gid != 1001 {
			return fmt.Errorf("/idm/f shows as %d:%d through the idmapped mount, want 1000:1001", st.Uid, st.Gid)
		}
		if err := unix.Stat("/plain/f", &st); err != nil {
			return err
		}
		if st.Uid != 0 || st.Gid != 0 {
			return fmt.Errorf("/plain/f shows as %d:%d, want 0:0", st.Uid, st.Gid)
		}
		return nil
	}
}

func newIDMapBundle(t *testing.T) *Config {
	c := newBundle(t)
	if err := os.MkdirAll(filepath.Join(c.Bundle, "idsrc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Bundle, "idsrc", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/idm", Type: "bind", Source: "idsrc", Options: []string{"rbind", "idmap", "ro"},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}},
		specs.Mount{Destination: "/plain", Type: "bind", Source: "idsrc", Options: []string{"rbind"}},
	)
	return c
}

func TestIDMappedMount(t *testing.T) {
	t.Parallel()
	mustRunChild(t, "idmap", newIDMapBundle(t))
}

func TestIDMapWithoutMappings(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}})
	mustFailChild(t, "setup", c, `mounts[7]: destination "/x": idmap: the mount has no uidMappings/gidMappings and the container no user namespace`)
}

func TestIDMapInUserNSNeedsParent(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	c, attr := userNSBundle(t)
	c.Spec.Mounts = append(c.Spec.Mounts, newIDMapBundle(t).Spec.Mounts[7])
	_, stderr, err := runChild(t, "setup", c, attr)
	want := `mounts[6]: destination "/idm": idmapped mount inside a user namespace: the parent must make it with rootfs.BindTree`
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("child: %v, stderr %q; want an error containing %q", err, stderr, want)
	}
}

func init() {
	children["userns-cgroup2"] = func(c *Config) error {
		if err := setupAll(c); err != nil {
			return err
		}
		return all(
			checkFSType("/sys/fs/cgroup", unix.CGROUP2_SUPER_MAGIC),
			checkContains("/sys/fs/cgroup/cgroup.procs", "1\n"),
			expectErrno("mkdir in ro cgroup2", os.Mkdir("/sys/fs/cgroup/x", 0o755), unix.EROFS),
		)
	}
}

// TestUserNamespaceCgroup2 mounts cgroup2 from a user namespace: directly
// with a cgroup namespace, by binding the container's own cgroup without.
func TestUserNamespaceCgroup2(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	for _, cgroupNS := range []bool{false, true} {
		t.Run(fmt.Sprintf("cgroupns=%v", cgroupNS), func(t *testing.T) {
			t.Parallel()
			c, attr := userNSBundle(t)
			c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "ro"}})
			if !cgroupNS {
				var ns []specs.LinuxNamespace
				for _, n := range c.Spec.Linux.Namespaces {
					if n.Type != specs.CgroupNamespace {
						ns = append(ns, n)
					}
				}
				c.Spec.Linux.Namespaces = ns
			}
			if _, stderr, err := runChild(t, "userns-cgroup2", c, attr); err != nil {
				t.Fatalf("child: %v\n%s", err, stderr)
			}
		})
	}
}

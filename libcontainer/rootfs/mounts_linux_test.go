package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	children["binds"] = func(c *Config) error {
		// A submount inside the bind source, to tell rro from ro. Made in
		// the child's own mount namespace, after making it a slave so
		// that nothing reaches the host.
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", filepath.Join(c.Bundle, "tree", "sub"), "tmpfs", 0, ""); err != nil {
			return err
		}
		if err := setupAll(c); err != nil {
			return err
		}
		return all(
			checkContains("/data/hello", "hi"),
			expectErrno("write to ro bind", os.WriteFile("/data/new", nil, 0o644), unix.EROFS),
			checkContains("/etc/hostsfile", "hosts"),
			checkTmpfs("/run/x/y", 1<<20, os.ModeDir|0o710),
			checkStatfsFlags("/run/x/y", unix.ST_NOSUID, unix.ST_RDONLY),
			checkFSType("/escape/inner", unix.TMPFS_MAGIC),
			checkFSType("/escape2/inner2", unix.TMPFS_MAGIC),
			expectErrno("write to rro bind", os.WriteFile("/rro/new", nil, 0o644), unix.EROFS),
			expectErrno("write below rro bind", os.WriteFile("/rro/sub/new", nil, 0o644), unix.EROFS),
			expectErrno("write to ro rbind", os.WriteFile("/ro/new", nil, 0o644), unix.EROFS),
			// "ro" on an rbind covers the top mount only, as in runc.
			os.WriteFile("/ro/sub/new", nil, 0o644),
			checkStatfsFlags("/flags", unix.ST_NOSUID|unix.ST_NOEXEC|unix.ST_NODEV, unix.ST_RDONLY),
			checkStatfsFlags("/rnoatime/sub", unix.ST_NOATIME, 0),
			checkFSType("/ro/sub", unix.TMPFS_MAGIC),
			expectErrno("write to remounted ro bind", os.WriteFile("/data2/new", nil, 0o644), unix.EROFS),
			checkFSType("/etc/copyme", unix.TMPFS_MAGIC),
			checkContains("/etc/copyme/a", "A"),
			checkMode("/etc/copyme/a", 0o640),
			checkMode("/etc/copyme", os.ModeDir|0o750),
			checkContains("/etc/copyme/sub/b", "B"),
			checkSymlink("/etc/copyme/link", "a"),
			os.WriteFile("/etc/copyme/a", []byte("changed"), 0o640),
		)
	}
}

func checkTmpfs(path string, size int64, mode os.FileMode) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	if st.Type != unix.TMPFS_MAGIC || int64(st.Blocks)*st.Bsize != size {
		return fmt.Errorf("%s: fs %#x of %d bytes, want tmpfs of %d", path, st.Type, int64(st.Blocks)*st.Bsize, size)
	}
	return checkMode(path, mode)
}

// checkStatfsFlags checks that path's mount has every flag in set and
// none in unset.
func checkStatfsFlags(path string, set, unset int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	if st.Flags&set != set || st.Flags&unset != 0 {
		return fmt.Errorf("%s: mount flags %#x, want %#x set and %#x clear", path, st.Flags, set, unset)
	}
	return nil
}

func TestBindAndTmpfsMounts(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	outside := t.TempDir() // what the rootfs's symlinks point at on the host
	for path, content := range map[string]string{"data/hello": "hi", "hostfile": "hosts"} {
		p := filepath.Join(c.Bundle, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(c.Bundle, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(c.Bundle, "data", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(c.Rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../.."+outside, filepath.Join(c.Rootfs, "escape2")); err != nil {
		t.Fatal(err)
	}
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: "data", Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/etc/hostsfile", Source: filepath.Join(c.Bundle, "hostfile"), Options: []string{"bind"}},
		specs.Mount{Destination: "/run/x/y", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m", "mode=0710"}},
		specs.Mount{Destination: "/escape/inner", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/escape2/inner2", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/rro", Type: "bind", Source: "tree", Options: []string{"rbind", "rro"}},
		specs.Mount{Destination: "/ro", Type: "bind", Source: "tree", Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/flags", Type: "bind", Source: "data", Options: []string{"bind", "nosuid", "noexec", "nodev", "rprivate"}},
		specs.Mount{Destination: "/rnoatime", Type: "bind", Source: "tree", Options: []string{"rbind", "rnoatime"}},
		specs.Mount{Destination: "/data2", Type: "bind", Source: "data", Options: []string{"bind"}},
		specs.Mount{Destination: "/data2", Options: []string{"remount", "bind", "ro"}},
		specs.Mount{Destination: "/etc/copyme", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "size=1m"}},
	)
	copyme := filepath.Join(c.Rootfs, "etc", "copyme")
	if err := os.MkdirAll(filepath.Join(copyme, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(copyme, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copyme, "a"), []byte("A"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copyme, "sub", "b"), []byte("B"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(copyme, "link")); err != nil {
		t.Fatal(err)
	}
	mustRunChild(t, "binds", c)

	entries, err := os.ReadDir(outside)
	if err != nil || len(entries) != 0 {
		t.Errorf("host directory %s behind the rootfs's symlink: %d entries (err %v), want untouched", outside, len(entries), err)
	}
	for _, p := range []string{"inner", "inner2"} {
		if _, err := os.Stat(filepath.Join(c.Rootfs, outside, p)); err != nil {
			t.Errorf("mount target was not created inside the rootfs: %v", err)
		}
	}
	if data, err := os.ReadFile(filepath.Join(copyme, "a")); err != nil || string(data) != "A" {
		t.Errorf("tmpcopyup source on the host: %q, %v; want it unchanged by writes to the tmpfs", data, err)
	}
	if fi, err := os.Lstat(filepath.Join(c.Rootfs, "etc", "hostsfile")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("file bind target: %v, %v; want an empty regular file created in the rootfs", fi, err)
	}
}

func TestBindSourceMissing(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "nope", Options: []string{"rbind"}})
	mustFailChild(t, "setup", c, fmt.Sprintf(`mounts[7]: destination "/x": bind source "%s/nope": no such file or directory`, c.Bundle))
}

func TestUnknownRecursiveOption(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "rsync"}})
	mustFailChild(t, "setup", c, `mounts[7]: destination "/x": option "rsync": "sync" has no recursive form`)
}

func TestIDMapOnNonBindRefused(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"idmap"}})
	mustFailChild(t, "setup", c, `mounts[7]: destination "/x": idmapped mounts are only supported for bind mounts, not type "tmpfs"`)
}

func TestTmpCopyUpOnlyForTmpfs(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "tmpcopyup"}})
	mustFailChild(t, "setup", c, `mounts[7]: destination "/x": option tmpcopyup is only for type tmpfs, not "bind"`)
}

func init() {
	children["cgroup2"] = func(c *Config) error {
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

func TestCgroup2Mount(t *testing.T) {
	t.Parallel()
	c := newBundle(t)
	for i, m := range c.Spec.Mounts {
		if m.Type == "cgroup" {
			c.Spec.Mounts[i].Type = "cgroup2"
		}
	}
	mustRunChild(t, "cgroup2", c)
}

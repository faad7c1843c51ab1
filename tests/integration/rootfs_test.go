package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// mountEntry is one line of /proc/self/mountinfo, as the container sees it.
type mountEntry struct{ point, opts, fstype, super string }

func parseMountinfo(t *testing.T, text string) map[string]mountEntry {
	t.Helper()
	mounts := map[string]mountEntry{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 3 {
			continue
		}
		// The last mount on a point is the visible one.
		mounts[f[4]] = mountEntry{point: f[4], opts: f[5], fstype: g[0], super: g[2]}
	}
	return mounts
}

func hasOpt(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

func TestDefaultMounts(t *testing.T) {
	t.Parallel()
	out := runOutput(t, sh(`cat /proc/self/mountinfo; echo ---
for d in null zero full random urandom tty; do stat -c "%n %F %t:%T" /dev/$d; done
test -e /dev/ptmx && echo ptmx ok`))
	info, devs, _ := strings.Cut(out, "---\n")
	mounts := parseMountinfo(t, info)
	for point, fstype := range map[string]string{
		"/proc": "proc", "/sys": "sysfs", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue",
	} {
		if m, ok := mounts[point]; !ok || m.fstype != fstype {
			t.Errorf("%s: mounted %+v, want type %s", point, m, fstype)
		}
	}
	if !hasOpt(mounts["/sys"].opts, "ro") {
		t.Errorf("/sys is not read-only: %+v", mounts["/sys"])
	}
	want := "/dev/null character special file 1:3\n/dev/zero character special file 1:5\n" +
		"/dev/full character special file 1:7\n/dev/random character special file 1:8\n" +
		"/dev/urandom character special file 1:9\n/dev/tty character special file 5:0\nptmx ok\n"
	if devs != want {
		t.Errorf("devices:\n%s\nwant:\n%s", devs, want)
	}
}

func TestBindMountReadOnly(t *testing.T) {
	t.Parallel()
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runOutput(t, with(sh("cat /data/f; touch /data/new 2>&1; echo rc=$?"), bindMount(host, "/data", "ro")))
	if !strings.HasPrefix(out, "from the host\n") || !strings.Contains(out, "Read-only file system") || !strings.HasSuffix(out, "rc=1\n") {
		t.Errorf("read-only bind mount: %q", out)
	}
	if _, err := os.Stat(filepath.Join(host, "new")); err == nil {
		t.Error("the container wrote through a read-only bind mount")
	}
}

func TestTmpfsSizeAndMode(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("stat -c %a /scratch; cat /proc/self/mountinfo"), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=1770", "nodev"}})
	}))
	mode, info, _ := strings.Cut(out, "\n")
	m := parseMountinfo(t, info)["/scratch"]
	if mode != "1770" || m.fstype != "tmpfs" || !hasOpt(m.super, "size=1024k") || !hasOpt(m.super, "mode=1770") || !hasOpt(m.opts, "nodev") {
		t.Errorf("tmpfs /scratch: mode %s, mount %+v", mode, m)
	}
}

// TestTmpcopyup: a tmpfs with tmpcopyup (runc's extension, which podman
// uses) starts with what the directory it covers held: files with their
// content, mode and owner, directories, symlinks as links, fifos; the
// tmpfs root takes the directory's mode and owner; and it is a tmpfs,
// whose writes do not reach the image.
func TestTmpcopyup(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh(`cd /seed && stat -c '%a %u:%g' . conf sub sub/deep fifo && readlink link && cat conf sub/deep && `+
		`test -p fifo && echo new > sub/added && grep -c ' /seed .* - tmpfs ' /proc/self/mountinfo`), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/seed", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "nodev"}})
	}))
	seed := filepath.Join(c.Rootfs(), "seed")
	for _, step := range []error{
		os.MkdirAll(filepath.Join(seed, "sub"), 0o755),
		os.WriteFile(filepath.Join(seed, "conf"), []byte("from the image\n"), 0o644),
		os.WriteFile(filepath.Join(seed, "sub", "deep"), []byte("deeper\n"), 0o600),
		os.Symlink("/etc/passwd", filepath.Join(seed, "link")),
		unix.Mkfifo(filepath.Join(seed, "fifo"), 0o600),
		// Exact modes, past the umask (os.Chmod drops 01000).
		unix.Chmod(seed, 0o1775),
		unix.Chmod(filepath.Join(seed, "conf"), 0o4755),
		unix.Chmod(filepath.Join(seed, "sub"), 0o750),
		unix.Chmod(filepath.Join(seed, "fifo"), 0o620),
		os.Lchown(filepath.Join(seed, "conf"), 12, 34),
		os.Lchown(seed, 5, 6),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	// conf: chown cleared its set-uid bit on the host; the copy has it.
	want := "1775 5:6\n755 12:34\n750 0:0\n600 0:0\n620 0:0\n/etc/passwd\nfrom the image\ndeeper\n1\n"
	if out := c.MustRun(); out != want {
		t.Errorf("in the container:\n%s\nwant:\n%s", out, want)
	}
	if _, err := os.Stat(filepath.Join(seed, "sub", "added")); !os.IsNotExist(err) {
		t.Errorf("a write to the tmpfs reached the image: %v", err)
	}
}

func TestMaskedPaths(t *testing.T) {
	t.Parallel()
	// On the host these have content (this kernel has no /proc/kcore); masked
	// they read empty. Checked on the host first, or the test proves nothing.
	paths := []string{"/proc/keys", "/proc/timer_list", "/sys/firmware"}
	for _, p := range paths {
		if n := hostEntryCount(t, p); n == 0 {
			t.Fatalf("%s is empty on the host: masking it cannot be observed", p)
		}
	}
	out := runOutput(t, sh("for f in /proc/keys /proc/timer_list; do head -c 16 $f | wc -c; done; ls -A /sys/firmware | wc -l"))
	if got := strings.Join(strings.Fields(out), " "); got != "0 0 0" {
		t.Errorf("bytes or entries read from %v in the container: %s, want 0 0 0", paths, got)
	}
}

// hostEntryCount is the number of entries of a directory, or of bytes of a
// file (up to 16), on the host.
func hostEntryCount(t *testing.T, path string) int {
	t.Helper()
	if entries, err := os.ReadDir(path); err == nil {
		return len(entries)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, _ := f.Read(make([]byte, 16))
	return n
}

func TestReadonlyPaths(t *testing.T) {
	t.Parallel()
	// ip_forward lives in the container's own network namespace: if the path
	// were writable, nothing on the host would change.
	out := runOutput(t, sh("cat /proc/sys/net/ipv4/ip_forward; { echo 1 > /proc/sys/net/ipv4/ip_forward; } 2>&1; echo rc=$?"))
	if !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "Read-only file system") || !strings.HasSuffix(out, "rc=1\n") {
		t.Errorf("/proc/sys not read-only: %q", out)
	}
}

func TestReadonlyRoot(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("touch /new 2>&1; echo rc=$?"), func(s *specs.Spec) { s.Root.Readonly = true }))
	out := c.MustRun()
	if !strings.Contains(out, "Read-only file system") || !strings.HasSuffix(out, "rc=1\n") {
		t.Errorf("touch / on a read-only root: %q", out)
	}
	if _, err := os.Stat(filepath.Join(c.Rootfs(), "new")); err == nil {
		t.Error("file created in a read-only rootfs")
	}
}

func TestDevice(t *testing.T) {
	t.Parallel()
	// Owned by root, as the process is: it has no CAP_DAC_OVERRIDE to write
	// through the mode bits.
	mode := os.FileMode(0o620)
	uid, gid := uint32(0), uint32(29)
	out := runOutput(t, with(sh(`stat -c "%F %t:%T %a %u:%g" /dev/mydev; echo hi > /dev/mydev && echo wrote`), func(s *specs.Spec) {
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/mydev", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid})
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"})
	}))
	if out != "character special file 1:3 620 0:29\nwrote\n" {
		t.Errorf("linux.devices node: %q", out)
	}
}

func ptr[T any](v T) *T { return &v }

func TestNoPivot(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("cat /etc/hostname; ls /bin/busybox"))
	if out := c.MustRun("--no-pivot"); out != "busybox\n/bin/busybox\n" {
		t.Errorf("--no-pivot: %q", out)
	}
}

// A mount whose destination passes through a symlink pointing out of the
// rootfs must land inside the rootfs (the symlink resolved as if the rootfs
// were /), never on the host.
func TestMountTargetSymlinkStaysInRootfs(t *testing.T) {
	t.Parallel()
	hostTarget := t.TempDir()
	// Inside, both tmpfs mounts sit on <hostTarget>/sub of the rootfs.
	c := tu.NewContainer(t, with(sh("grep -c ' "+hostTarget+"/sub ' /proc/self/mountinfo"), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/abs/sub", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/rel/sub", Type: "tmpfs", Source: "tmpfs"})
	}))
	if err := os.Symlink(hostTarget, filepath.Join(c.Rootfs(), "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(strings.Repeat("../", 20)+strings.TrimPrefix(hostTarget, "/"), filepath.Join(c.Rootfs(), "rel")); err != nil {
		t.Fatal(err)
	}
	guard := c.Guard(hostTarget)
	if out := c.MustRun(); out != "2\n" {
		t.Errorf("want both mounts on %s/sub inside the rootfs, grep -c says %q", hostTarget, out)
	}
	if entries, _ := os.ReadDir(hostTarget); len(entries) != 0 {
		t.Errorf("the runtime wrote through a symlink to the host: %s holds %v", hostTarget, entries)
	}
	if _, err := os.Stat(filepath.Join(c.Rootfs(), hostTarget, "sub")); err != nil {
		t.Errorf("mount target not created inside the rootfs: %v", err)
	}
	guard.Check(t) // run (without --keep) deleted the container
}

// A mount destination that is itself a dangling symlink lands where the
// symlink points, made inside the rootfs (the symlink resolved as if the
// rootfs were /); one whose parent exists and last name does not is made in
// that parent.
func TestMountTargetsMadeInRootfs(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("grep -c -e ' /made/here ' -e ' /fresh ' /proc/self/mountinfo"), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/dangling", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/fresh", Type: "tmpfs", Source: "tmpfs"})
	}))
	if err := os.Symlink("/made/here", filepath.Join(c.Rootfs(), "dangling")); err != nil {
		t.Fatal(err)
	}
	if out := c.MustRun(); out != "2\n" {
		t.Errorf("want tmpfs mounts on /made/here and /fresh, grep -c says %q", out)
	}
	for _, p := range []string{"made/here", "fresh"} {
		if st, err := os.Lstat(filepath.Join(c.Rootfs(), p)); err != nil || !st.IsDir() {
			t.Errorf("mount target %s not made as a directory in the rootfs: %v", p, err)
		}
	}
}

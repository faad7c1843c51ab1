package overlay

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The kernel here has lowerdir+, so these tests call the classic fallback
// directly; on a kernel without it (6.1 guest) they run the same way, and
// libcontainer/host's probe (OverlayLowerdirPlus) says which way Mount takes.

type overlayDirs struct {
	target, upper, work string
	lowers              []string // top first, as Mount takes them
}

// makeOverlay makes n lower layers under base/NAME(i), top first: layer i
// has its own file l<i> and a "shared" file saying which layer it is, the
// bottom one also "bottom" and the top one "top". The mount, if any, is
// removed when the test ends.
func makeOverlay(t testing.TB, base string, n int, name func(i int) string) overlayDirs {
	t.Helper()
	root := t.TempDir()
	d := overlayDirs{target: filepath.Join(root, "rootfs"), upper: filepath.Join(root, "upper"), work: filepath.Join(root, "work")}
	for _, p := range []string{d.target, d.upper, d.work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		l := filepath.Join(base, name(i))
		if err := os.MkdirAll(l, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{fmt.Sprintf("l%03d", i): "x", "shared": fmt.Sprint(i)}
		if i == 0 {
			files["top"] = "top"
		}
		if i == n-1 {
			files["bottom"] = "bottom"
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(l, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		d.lowers = append(d.lowers, l)
	}
	t.Cleanup(func() { forceUnmount(d.target) })
	return d
}

// checkMerged: files from the top and the bottom layer, the top's "shared",
// and a write landing in upper.
func checkMerged(t *testing.T, d overlayDirs) {
	t.Helper()
	if ok, err := mountinfo.Mounted(d.target); err != nil || !ok {
		t.Fatalf("%s not mounted (%v)", d.target, err)
	}
	for f, want := range map[string]string{"top": "top", "bottom": "bottom", "shared": "0",
		fmt.Sprintf("l%03d", len(d.lowers)-1): "x"} {
		got, err := os.ReadFile(filepath.Join(d.target, f))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", f, got, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(d.target, "new"), []byte("w"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.upper, "new")); err != nil {
		t.Errorf("a write in the overlay is not in upper: %v", err)
	}
}

// mountOptions is the overlay's option string from mountinfo.
func mountOptions(t *testing.T, target string) string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(target))
	if err != nil || len(ms) != 1 {
		t.Fatalf("mountinfo for %s: %v, %d entries", target, err, len(ms))
	}
	return ms[0].VFSOptions
}

func unmountNow(t *testing.T, target string) {
	t.Helper()
	if err := unix.Unmount(target, 0); err != nil {
		t.Fatalf("unmount %s: %v", target, err)
	}
}

// TestClassicOverlay: three layers, one with every character overlayfs
// splits on in its name, mounted with the absolute lowerdir= form.
func TestClassicOverlay(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	d := makeOverlay(t, base, 3, func(i int) string { return []string{"top", `mid:d,le\x`, "bottom"}[i] })
	if err := mountClassic(d.target, d.lowers, d.upper, d.work, Options{}, false); err != nil {
		t.Fatal(err)
	}
	checkMerged(t, d)
	if opts := mountOptions(t, d.target); !strings.Contains(opts, d.lowers[2]) {
		t.Errorf("absolute form expected; mount options %q", opts)
	}
	unmountNow(t, d.target)
}

// TestClassicOverlayShort: 180 layers at paths of over 60 bytes, whose
// absolute lowerdir= would be far past one page, mount with the short form,
// and neither the process's cwd nor any of its threads' moves.
func TestClassicOverlayShort(t *testing.T) {
	requireRoot(t)
	base := filepath.Join(t.TempDir(), strings.Repeat("s", 40))
	const n = 180
	d := makeOverlay(t, base, n, func(i int) string { return fmt.Sprintf("layers/sha256/%03d", i) })
	for _, l := range d.lowers {
		if len(l) <= 60 {
			t.Fatalf("layer path %s is not over 60 bytes", l)
		}
	}
	if abs := classicOptions(strings.Join(d.lowers, ":"), d.upper, d.work, Options{}); len(abs) <= 4096 {
		t.Fatalf("the absolute form is only %d bytes: the test does not test the short form", len(abs))
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := mountClassic(d.target, d.lowers, d.upper, d.work, Options{}, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d layers mounted in %v", n, time.Since(start))
	checkMerged(t, d)
	opts := mountOptions(t, d.target)
	t.Logf("mount options: %.120s", opts)
	if strings.Contains(opts, base) {
		t.Errorf("short form expected; mount options %q", opts)
	}
	if now, err := os.Getwd(); err != nil || now != cwd {
		t.Errorf("cwd after the mount: %q, %v; want %q", now, err, cwd)
	}
	// The mounting thread ends after the mount; until it has, it may still
	// be listed with its cwd in /proc/thread-self/fd. No other thread may.
	expectThreadsIn(t, cwd)
	unmountNow(t, d.target)
}

// expectThreadsIn fails unless, within two seconds, every thread of the
// process has dir as its cwd (a thread that did a mount elsewhere may still
// be ending).
func expectThreadsIn(t *testing.T, dir string) {
	t.Helper()
	var stray []string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if stray = threadsNotIn(t, dir); len(stray) == 0 {
			return
		}
	}
	t.Errorf("threads with another cwd than %s: %v", dir, stray)
}

// threadsNotIn lists the process's threads whose cwd is not dir.
func threadsNotIn(t *testing.T, dir string) []string {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var stray []string
	for _, task := range tasks {
		cwd, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "cwd"))
		if err == nil && cwd != dir {
			stray = append(stray, task.Name()+":"+cwd)
		}
	}
	return stray
}

// TestThrowawayThread: f never runs on the main thread, whose cwd is the
// process's in /proc, and no thread keeps f's cwd once f is done.
func TestThrowawayThread(t *testing.T) {
	requireRoot(t)
	cwd := mustGetwd(t)
	elsewhere := t.TempDir()
	for i := 0; i < 100; i++ {
		err := OnThrowawayThread(func() error {
			if unix.Gettid() == unix.Getpid() {
				return fmt.Errorf("on the main thread")
			}
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return err
			}
			return unix.Chdir(elsewhere)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.Readlink("/proc/self/cwd"); err != nil || got != cwd {
		t.Errorf("/proc/self/cwd: %q, %v; want %q", got, err, cwd)
	}
	expectThreadsIn(t, cwd)
}

// TestClassicOverlayShortForced: the short form for a small overlay too,
// with a relative target (resolved before the chdir).
func TestClassicOverlayShortForced(t *testing.T) {
	requireRoot(t)
	d := makeOverlay(t, t.TempDir(), 3, func(i int) string { return fmt.Sprint(i) })
	rel, err := filepath.Rel(mustGetwd(t), d.target)
	if err != nil {
		t.Fatal(err)
	}
	if err := mountClassic(rel, d.lowers, d.upper, d.work, Options{}, true); err != nil {
		t.Fatal(err)
	}
	checkMerged(t, d)
	unmountNow(t, d.target)
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestClassicOverlayTooDeep: past a page even in the short form, the error
// gives the layer count, the length and the limit, and nothing is mounted.
// (About 950 layers fit; overlayfs itself stops at 500 and says so.)
func TestClassicOverlayTooDeep(t *testing.T) {
	requireRoot(t)
	const n = 1500
	d := makeOverlay(t, t.TempDir(), n, func(i int) string { return fmt.Sprint(i) })
	err := mountClassic(d.target, d.lowers, d.upper, d.work, Options{}, false)
	if err == nil {
		t.Fatal("mounted 1500 layers in one page")
	}
	t.Log(err)
	for _, want := range []string{d.target, "1500 layers", fmt.Sprintf("limit of %d bytes", unix.Getpagesize()-1)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if ok, _ := mountinfo.Mounted(d.target); ok {
		t.Error("mounted after all")
	}
}

// TestClassicOverlayError: when the kernel refuses, the error names the
// target, the options and overlayfs's reason from the kernel log.
func TestClassicOverlayError(t *testing.T) {
	requireRoot(t)
	d := makeOverlay(t, t.TempDir(), 2, func(i int) string { return fmt.Sprint(i) })
	// overlayfs refuses a workdir inside upperdir.
	work := filepath.Join(d.upper, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	err := mountClassic(d.target, d.lowers, d.upper, work, Options{}, false)
	if err == nil {
		t.Fatal("mounted with workdir inside upperdir")
	}
	t.Log(err)
	for _, want := range []string{"overlay on " + d.target, "lowerdir=" + d.lowers[0], "workdir=" + work, "index=off"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, serr := os.Stat("/dev/kmsg"); serr == nil && !strings.Contains(err.Error(), "kernel: overlay") {
		t.Errorf("error %q does not carry the kernel's reason", err)
	}
}

// TestMountOverlayFallback: Mount itself, as on a kernel that
// answered "no lowerdir+", takes the classic way.
func TestMountOverlayFallback(t *testing.T) {
	requireRoot(t)
	t.Cleanup(UseClassic())
	d := makeOverlay(t, t.TempDir(), 3, func(i int) string { return fmt.Sprint(i) })
	if err := Mount(d.target, d.lowers, d.upper, d.work, Options{}); err != nil {
		t.Fatal(err)
	}
	checkMerged(t, d)
	unmountNow(t, d.target)
}

// BenchmarkOverlayMount: mount plus unmount, each way, for a shallow and a
// deep image.
func BenchmarkOverlayMount(b *testing.B) {
	ways := map[string]func(d overlayDirs) error{
		"lowerdir+": func(d overlayDirs) error { return mountAppend(d.target, d.lowers, d.upper, d.work, Options{}) },
		"classic":   func(d overlayDirs) error { return mountClassic(d.target, d.lowers, d.upper, d.work, Options{}, false) },
		"short":     func(d overlayDirs) error { return mountClassic(d.target, d.lowers, d.upper, d.work, Options{}, true) },
	}
	for _, n := range []int{3, 40, 200} {
		for _, way := range []string{"lowerdir+", "classic", "short"} {
			b.Run(fmt.Sprintf("%s/layers=%d", way, n), func(b *testing.B) {
				base := filepath.Join(b.TempDir(), "layers/sha256")
				d := makeOverlay(b, base, n, func(i int) string { return fmt.Sprintf("%064x", i) })
				for i := 0; i < b.N; i++ {
					if err := ways[way](d); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := unix.Unmount(d.target, 0); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (overlay mounts)")
	}
}

func forceUnmount(p string) { unix.Unmount(p, unix.MNT_DETACH) }

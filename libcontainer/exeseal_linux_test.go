package libcontainer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests seal this test binary (or $STRATA_BINARY for the benchmark)
// and run it again from the sealed fd as a helper process.
const sealHelperEnv = "STRATA_TEST_SEAL_HELPER"

// TestSealHelperProcess is not a test: it is what the sealed test binary
// runs. It reports that it ran and what opening its own /proc/self/exe for
// writing does, which is the CVE-2019-5736 attack from inside.
func TestSealHelperProcess(t *testing.T) {
	if os.Getenv(sealHelperEnv) != "1" {
		t.Skip("helper process only")
	}
	fd, err := unix.Open("/proc/self/exe", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		fmt.Println("sealed-helper ran; /proc/self/exe opened for writing")
	} else {
		fmt.Printf("sealed-helper ran; /proc/self/exe write open: %s\n", unix.ErrnoName(err.(unix.Errno)))
	}
	os.Exit(0)
}

func requireRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func selfPath(t testing.TB) string {
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeRefused tells whether err is one of the ways the kernel refuses a
// write to a sealed binary.
func writeRefused(err error) bool {
	return errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ETXTBSY)
}

func TestSealMethods(t *testing.T) {
	requireRoot(t)
	self := selfPath(t)
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range defaultSealer.methods {
		t.Run(m.name, func(t *testing.T) {
			f, err := m.seal(self)
			if err != nil {
				if maj, min := sealMethodNeeds(m.name); !kernelAtLeast(maj, min) {
					t.Skipf("%s needs Linux %d.%d, this is %s: %v", m.name, maj, min, kernelRelease(), err)
				}
				t.Fatalf("%s on kernel %s: %v", m.name, kernelRelease(), err)
			}
			defer f.Close()
			path := procSelfFD(int(f.Fd()))

			// The content is the binary's.
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read through %s: %v", path, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("sealed content differs from %s (%d bytes, want %d)", self, len(got), len(want))
			}

			// It cannot be opened to be overwritten, truncated or not.
			for _, flags := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC} {
				w, err := os.OpenFile(path, flags, 0)
				if err == nil {
					// A memfd opens; its seals refuse the write.
					_, err = w.Write([]byte("owned"))
					w.Close()
				}
				if !writeRefused(err) {
					t.Errorf("open %s with flags %#x and write: err = %v, want EROFS, EPERM or ETXTBSY", path, flags, err)
				}
			}
			if m.name == "memfd" {
				seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
				if err != nil || seals&memfdSeals != memfdSeals {
					t.Errorf("memfd seals = %#x, %v; want at least %#x", seals, err, memfdSeals)
				}
				// F_SEAL_EXEC (6.3) freezes its exec bits too.
				if kernelAtLeast(6, 3) {
					if err := unix.Fchmod(int(f.Fd()), 0o444); !errors.Is(err, unix.EPERM) {
						t.Errorf("fchmod 0444 of the sealed memfd: err = %v, want EPERM", err)
					}
				}
			}

			// The binary runs from it, as process.go runs the init.
			out := runSealed(t, path)
			if !strings.Contains(out, "sealed-helper ran") {
				t.Fatalf("exec %s: output %q", path, out)
			}
			if strings.Contains(out, "opened for writing") {
				t.Fatalf("the exec'd binary could open its /proc/self/exe for writing: %q", out)
			}
			t.Logf("%s: %s", m.name, strings.TrimSpace(out))

			// The file is still the binary after all that.
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
				t.Fatal("sealed content changed")
			}
		})
	}
}

func runSealed(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(path, "-test.run=^TestSealHelperProcess$")
	cmd.Env = append(os.Environ(), sealHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("exec %s: %v: %s", path, err, out)
	}
	return string(out)
}

// The init execveat's the fd itself, with AT_EMPTY_PATH (nsenter's exec
// stage path): that must work for an O_PATH overlay or bind fd and for a
// read-only memfd alike. This runs it the same way from a forked child.
func TestSealExecveat(t *testing.T) {
	requireRoot(t)
	self := selfPath(t)
	for _, m := range defaultSealer.methods {
		t.Run(m.name, func(t *testing.T) {
			f, err := m.seal(self)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// A /proc/self/fd/N path of the child's copy of the fd
			// resolves to the same open file execveat would use; exec.Cmd
			// has no execveat, so run through the fd number in the child.
			cmd := exec.Command("/proc/self/fd/3", "-test.run=^TestSealHelperProcess$")
			cmd.ExtraFiles = []*os.File{f}
			cmd.Env = append(os.Environ(), sealHelperEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "sealed-helper ran") {
				t.Fatalf("exec fd 3: %v: %s", err, out)
			}
		})
	}
}

// Every supported kernel (5.14 and later) must get an overlay seal: the
// memfd and bind are for kernels or hosts that refuse it (no overlayfs,
// a binary in /, a locked mount), not for distribution defaults. The
// version decides only what the test expects, never what strata does.
func TestSealedExePicksTheOverlay(t *testing.T) {
	requireRoot(t)
	f, how, err := sealedExe()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := "overlay-lowerdir"
	if kernelAtLeast(6, 8) {
		want = "overlay-lowerdir+"
	}
	if how != want {
		t.Errorf("sealedExe used %q on kernel %s, want %q", how, kernelRelease(), want)
	}
}

// sealMethodNeeds is the kernel a method needs (for the tests' skips).
func sealMethodNeeds(name string) (int, int) {
	switch name {
	case "overlay-lowerdir+":
		return 6, 8
	case "bind":
		return 5, 12
	}
	return 5, 14 // the oldest kernel strata supports
}

func kernelAtLeast(major, minor int) bool {
	var maj, min int
	if _, err := fmt.Sscanf(kernelRelease(), "%d.%d", &maj, &min); err != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}

func TestSealerFallsBackAndRemembers(t *testing.T) {
	requireRoot(t)
	self := selfPath(t)
	calls := map[string]int{}
	counted := func(name string, fn func(string) (*os.File, error)) sealMethod {
		return sealMethod{name, func(p string) (*os.File, error) {
			calls[name]++
			return fn(p)
		}}
	}
	refused := func(string) (*os.File, error) { return nil, unix.EINVAL }
	s := &sealer{methods: []sealMethod{
		counted("overlay-refused", refused),
		counted("memfd", sealMemfd),
		counted("bind", sealBind),
	}}
	for i := 0; i < 3; i++ {
		f, how, err := s.seal(self)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if how != "memfd" {
			t.Fatalf("seal %d used %q, want memfd", i, how)
		}
	}
	// Probed once: the refused method is not asked again.
	if calls["overlay-refused"] != 1 || calls["memfd"] != 3 || calls["bind"] != 0 {
		t.Fatalf("calls = %v, want the refused method once, memfd 3 times, bind never", calls)
	}
}

func TestSealerRememberedMethodFailingFallsFurther(t *testing.T) {
	requireRoot(t)
	self := selfPath(t)
	fail := false
	s := &sealer{methods: []sealMethod{
		{"flaky", func(p string) (*os.File, error) {
			if fail {
				return nil, unix.EMFILE
			}
			return sealMemfd(p)
		}},
		{"bind", sealBind},
	}}
	f, how, err := s.seal(self)
	if err != nil || how != "flaky" {
		t.Fatalf("first seal: %q, %v", how, err)
	}
	f.Close()
	fail = true
	f, how, err = s.seal(self)
	if err != nil || how != "bind" {
		t.Fatalf("seal with the remembered method failing: %q, %v", how, err)
	}
	f.Close()
}

func TestSealerNamesEveryFailure(t *testing.T) {
	s := &sealer{methods: []sealMethod{
		{"overlay-lowerdir+", func(string) (*os.File, error) { return nil, errors.New("fsconfig: invalid argument") }},
		{"memfd", func(string) (*os.File, error) { return nil, errors.New("memfd_create: permission denied") }},
		{"bind", func(string) (*os.File, error) { return nil, errors.New("open_tree: function not implemented") }},
	}}
	_, _, err := s.seal("/usr/bin/strata")
	if err == nil {
		t.Fatal("no error with every method failing")
	}
	for _, want := range []string{"/usr/bin/strata", "overlay-lowerdir+: fsconfig: invalid argument",
		"memfd: memfd_create: permission denied", "bind: open_tree: function not implemented"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if s.chosen != 0 {
		t.Errorf("a method was remembered although none worked")
	}
}

// The legacy mount API probe must see a kernel with overlayfs fs_context
// (6.5+) as such, and an older one as legacy: otherwise lowerdir+ would
// never be tried, or would be tried where it costs a kernel log line.
func TestOverlayFsContextProbe(t *testing.T) {
	requireRoot(t)
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fsfd)
	if got, want := legacyMountAPI(fsfd), !kernelAtLeast(6, 5); got != want {
		t.Fatalf("legacyMountAPI on %s = %v, want %v", kernelRelease(), got, want)
	}
}

func TestEscapeLowerdir(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin":        "/usr/bin",
		"/opt/a:b":        `/opt/a\:b`,
		"/opt/a,b":        `/opt/a\,b`,
		`/opt/a\b`:        `/opt/a\\b`,
		`/x\:,`:           `/x\\\:\,`,
		"/proc/self/fd/7": "/proc/self/fd/7",
	} {
		if got := escapeLowerdir(in); got != want {
			t.Errorf("escapeLowerdir(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFillerLayer(t *testing.T) {
	for dir, want := range map[string]string{
		"/usr/bin":       "/dev",
		"/dev/shm/x":     "/run",
		"/devices":       "/dev", // a prefix, not a parent
		"/run/strata":    "/dev",
		"/tmp/seal":      "/dev",
		"/dev":           "/run",
		"/usr/local/bin": "/dev",
	} {
		fd, err := openFiller(dir)
		if err != nil {
			t.Errorf("openFiller(%q): %v", dir, err)
			continue
		}
		got, _ := os.Readlink(procSelfFD(fd))
		unix.Close(fd)
		if got != want {
			t.Errorf("openFiller(%q) opened %q, want %q", dir, got, want)
		}
	}
	// A binary in / overlaps everything: the overlay refuses, the next
	// method takes over.
	if fd, err := openFiller("/"); err == nil {
		unix.Close(fd)
		t.Error("openFiller(/) found a layer")
	}
}

// BenchmarkSeal measures each method on the strata binary when
// STRATA_BINARY names it (the size matters to the memfd copy), else on
// this test binary. The figures are in the comment on defaultSealer.
func BenchmarkSeal(b *testing.B) {
	requireRoot(b)
	bin := os.Getenv("STRATA_BINARY")
	if bin == "" {
		bin = selfPath(b)
	}
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range defaultSealer.methods {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(st.Size())
			var closing time.Duration
			for i := 0; i < b.N; i++ {
				f, err := m.seal(bin)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				f.Close()
				closing += time.Since(t0)
			}
			// Closing a detached mount's last fd unmounts it, which waits
			// for an RCU grace period: the parent pays it too.
			b.ReportMetric(float64(closing.Nanoseconds())/float64(b.N), "close-ns/op")
		})
	}
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

package security

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// CVE-2021-30465: two containers shared a volume; while the runtime mounted
// the second one's mounts below the volume, the first swapped a directory
// on the way for a symlink, and runc (< 1.0.0-rc95), which had checked the
// path and then mounted on the path string, mounted outside the rootfs.
// Here the targets exist, in the rootfs and in the canary the symlinks
// point at: what could escape is the mounts (swapRace says how the race is
// run and checked).
func TestCVE_2021_30465_MountTargetSwapRace(t *testing.T) {
	t.Parallel()
	tmpfs := []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"}
	dirs := append([]string{"b0", "b1"}, tmpfs...)
	r := newSwapRace(t, dirs, dirs)
	for _, b := range []string{"b0", "b1"} {
		if err := os.Mkdir(filepath.Join(r.volume, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.run(t, func(int) []racedMount {
		var ms []racedMount
		for _, d := range racedDirs {
			for _, m := range tmpfs {
				ms = append(ms, racedMount{dest: "/" + d + "/" + m, source: raceSourcePrefix + d + "-" + m})
			}
			for _, b := range []string{"b0", "b1"} {
				ms = append(ms, racedMount{dest: "/" + d + "/" + b, source: filepath.Join(r.volume, b), bind: true})
			}
		}
		return ms
	})
}

// CVE-2024-45310: the same race against the directories and files a runtime
// makes for missing mount targets; runc (< 1.1.14) made them by path string,
// through the swapped symlink, on the host. Here every attempt has new
// targets (a directory below a new one, a file for a file bind mount) that
// exist nowhere: the canary must not get them.
func TestCVE_2024_45310_CreateTargetSwapRace(t *testing.T) {
	t.Parallel()
	r := newSwapRace(t, nil, nil)
	file := filepath.Join(r.volume, "file")
	if err := os.WriteFile(file, []byte("volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.run(t, func(attempt int) []racedMount {
		var ms []racedMount
		for _, d := range racedDirs {
			n := fmt.Sprint(attempt)
			ms = append(ms,
				racedMount{dest: "/" + d + "/n" + n + "/t", source: raceSourcePrefix + d + "-n" + n},
				racedMount{dest: "/" + d + "/f" + n, source: file, bind: true})
		}
		return ms
	})
}

// racedDirs are the directories of the rootfs that the race swaps: "abs"
// with a symlink to the canary's absolute path, "rel" with "../../canary".
var racedDirs = []string{"abs", "rel"}

// raceMu runs one race at a time: a racer keeps a CPU busy.
var raceMu sync.Mutex

// racedMount is a mount of the container below a raced directory: a tmpfs
// named source, or a bind mount of the host path source.
type racedMount struct {
	dest, source string
	bind         bool
}

func (m racedMount) spec() specs.Mount {
	if m.bind {
		return specs.Mount{Destination: m.dest, Type: "bind", Source: m.source, Options: []string{"rbind"}}
	}
	return specs.Mount{Destination: m.dest, Type: "tmpfs", Source: m.source}
}

// swapRace is a symlink-exchange race against a runtime's mounting, as a
// container sharing a volume with the container being created would run
// it. The host plays that container: in the rootfs, each of racedDirs is
// exchanged with a symlink to a canary directory outside the rootfs
// (renameat2 RENAME_EXCHANGE) by a goroutine, each state lasting a random
// while up to raceMaxDwell, while run creates the container again and again with
// mounts below the raced directories. After each create, successful or
// not, run checks:
//   - the container's mount namespace before pivot_root, as a createRuntime
//     hook copies it from /proc/<init>/mountinfo: no raced mount, and no
//     mount at all below the test's directory, is outside the rootfs;
//   - the created container: every raced mount is reachable from its root
//     (pivot_root detaches whatever landed outside);
//   - the host: no such mount either, and no new entry in the canary (a
//     directory or file made through the symlink).
//
// Before that a naive mounter (mount(2) on the path string, in a private
// mount namespace) is raced and must land on the canary: otherwise the
// race proves nothing on this machine and the test fails.
type swapRace struct {
	c                   *tu.Container
	base                []specs.Mount
	canary, volume      string
	realDir, realRootfs string // c.Dir and the rootfs as mountinfo names them
	hookOut             string
	swaps               *atomic.Int64
}

const (
	// run tries for raceBudget (at most raceMaxAttempts creates), and on
	// a loaded machine on, up to raceLimit, until raceMinCreated creates
	// succeeded: each is a checked run of every mount under the race.
	raceBudget      = 2 * time.Second
	raceMaxAttempts = 30
	raceMinCreated  = 3
	raceLimit       = 10 * time.Second
	// Each state of the race lasts a random while up to raceMaxDwell:
	// long enough that a runtime's multi-step lookup often sees one
	// state throughout (and the create completes), short enough that the
	// mounts of a create straddle swaps.
	raceMaxDwell = 100 * time.Microsecond
)

// newSwapRace makes the container, the canary with canaryDirs (and t0, for
// the naive mounter), the raced directories with rootfsDirs (and t0) and the
// (empty) volume, starts the racer and races the naive mounter.
func newSwapRace(t *testing.T, canaryDirs, rootfsDirs []string) *swapRace {
	t.Helper()
	raceMu.Lock()
	t.Cleanup(raceMu.Unlock)
	c := tu.NewContainer(t, nil)
	r := &swapRace{c: c, base: c.Spec.Mounts, canary: filepath.Join(c.Dir, "canary"), volume: filepath.Join(c.Dir, "volume"), hookOut: filepath.Join(c.Dir, "hook-mountinfo")}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	r.realDir, err = filepath.EvalSymlinks(c.Dir)
	must(err)
	r.realRootfs = filepath.Join(r.realDir, "bundle", "rootfs")
	must(os.MkdirAll(r.volume, 0o755))
	for _, d := range append([]string{"t0"}, canaryDirs...) {
		must(os.MkdirAll(filepath.Join(r.canary, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(r.canary, "host"), []byte("host\n"), 0o644))
	var names []string
	for _, d := range racedDirs {
		for _, sub := range append([]string{"t0"}, rootfsDirs...) {
			must(os.MkdirAll(filepath.Join(c.Rootfs(), d, sub), 0o755))
		}
		link := r.canary
		if d == "rel" {
			link = "../../canary"
		}
		must(os.Symlink(link, filepath.Join(c.Rootfs(), d+"-swap")))
		names = append(names, d, d+"-swap")
	}
	exe, err := os.Executable()
	must(err)
	timeout := 10
	c.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: exe, Args: []string{exe}, Env: []string{mountinfoHookEnv + "=" + r.hookOut}, Timeout: &timeout}}}
	r.swaps = raceSwaps(t, c.Rootfs(), raceMaxDwell, names...)
	tries, err := naiveMountEscapes(c.Rootfs(), r.canary)
	if err != nil {
		t.Fatalf("the race has no teeth here: a naive mounter never landed on the canary: %v", err)
	}
	t.Logf("control: a naive mount(2) on the path string landed on the canary after %d tries", tries)
	return r
}

// run creates the container with mounts(attempt) added, again and again
// (see raceBudget), checking each attempt (see swapRace). At least one
// create must succeed: a runtime refusing every one under the race was
// checked for nothing but the host.
func (r *swapRace) run(t *testing.T, mounts func(attempt int) []racedMount) {
	t.Helper()
	c := r.c
	canaryBefore := listTree(t, r.canary)
	var created, refused, hooked int
	var lastRefusal string
	start := time.Now()
	more := func(attempt int) bool {
		if t.Failed() || time.Since(start) > raceLimit {
			return false
		}
		return attempt <= raceMaxAttempts && time.Since(start) < raceBudget || created < raceMinCreated
	}
	for attempt := 1; more(attempt); attempt++ {
		ms := mounts(attempt)
		c.Spec.Mounts = slices.Clone(r.base)
		for _, m := range ms {
			c.Spec.Mounts = append(c.Spec.Mounts, m.spec())
		}
		c.WriteSpec()
		os.Remove(r.hookOut)
		before := r.swaps.Load()
		res := c.Create()
		during := r.swaps.Load() - before
		if data, err := os.ReadFile(r.hookOut); err == nil {
			hooked++
			if bad := r.escaped(parseMountinfo(string(data)), ms); len(bad) > 0 {
				t.Errorf("attempt %d (%d swaps during the create): in the container's mount namespace before pivot_root, mounts outside the rootfs:\n  %s", attempt, during, strings.Join(bad, "\n  "))
			}
		} else if res.Code == 0 {
			t.Errorf("attempt %d: created, but the createRuntime hook left no mountinfo: %v", attempt, err)
		}
		if res.Code == 0 {
			created++
			r.checkInside(t, attempt, c.State().Pid, ms)
		} else {
			refused++
			lastRefusal = res.Stderr
		}
		c.Runtime("delete", "--force", c.ID)
		if bad := r.escaped(parseMountinfo(readFile(t, "/proc/self/mountinfo")), ms); len(bad) > 0 {
			t.Errorf("attempt %d: mounts on the host outside the rootfs:\n  %s", attempt, strings.Join(bad, "\n  "))
		}
		if now := listTree(t, r.canary); !slices.Equal(now, canaryBefore) {
			t.Errorf("attempt %d: the canary outside the rootfs changed: %q, was %q", attempt, now, canaryBefore)
		}
	}
	t.Logf("%d creates in %v (%d swaps): %d created, %d refused, %d seen by the hook; last refusal: %s",
		created+refused, time.Since(start).Round(time.Millisecond), r.swaps.Load(), created, refused, hooked, lastRefusal)
	if created == 0 && !t.Failed() {
		t.Errorf("no create succeeded under the race, so no mount was checked; last refusal: %s", lastRefusal)
	}
}

// escaped lists the mounts of a mountinfo that are outside the rootfs and
// are one of ms, or below the test's directory.
func (r *swapRace) escaped(info []mountEntry, ms []racedMount) []string {
	var bad []string
	for _, e := range info {
		if under(e.point, r.realRootfs) {
			continue
		}
		if under(e.point, r.realDir) || slices.ContainsFunc(ms, r.is(e)) {
			bad = append(bad, e.String())
		}
	}
	return bad
}

// is tells whether a mountinfo entry is the mount m: a tmpfs by its
// source, a bind mount by the end of its root (the path of the source in
// its filesystem: the volume's name and below).
func (r *swapRace) is(e mountEntry) func(racedMount) bool {
	return func(m racedMount) bool {
		if !m.bind {
			return e.fstype == "tmpfs" && e.source == m.source
		}
		rel, err := filepath.Rel(filepath.Dir(r.volume), m.source)
		return err == nil && strings.HasSuffix(e.root, "/"+rel)
	}
}

// checkInside checks that every mount of ms is in the created container's
// mount namespace and reachable from its root: /proc/PID/mountinfo lists
// only the mounts below the process's root.
func (r *swapRace) checkInside(t *testing.T, attempt, pid int, ms []racedMount) {
	t.Helper()
	info := parseMountinfo(readFile(t, fmt.Sprintf("/proc/%d/mountinfo", pid)))
	var missing []string
	for i, m := range ms {
		// A bind source mounted twice is listed twice.
		want := 0
		for _, o := range ms[:i+1] {
			if o.source == m.source && o.bind == m.bind {
				want++
			}
		}
		n := 0
		for _, e := range info {
			if r.is(e)(m) {
				n++
			}
		}
		if n < want {
			missing = append(missing, m.dest)
		}
	}
	if len(missing) > 0 {
		t.Errorf("attempt %d: created, but mounts are not in the container's root (they landed outside it): %s", attempt, strings.Join(missing, ", "))
	}
}

const (
	raceSourcePrefix = "strata-race-" // the raced tmpfs mounts' sources
	// mountinfoHookEnv makes the test binary a createRuntime hook (see
	// TestMain) that copies the init's mountinfo into the file it names.
	mountinfoHookEnv = "STRATA_TEST_MOUNTINFO_HOOK"
	// naiveMounterEnv makes the test binary naiveMounter.
	naiveMounterEnv = "STRATA_TEST_NAIVE_MOUNTER"
)

// mountinfoHook is the test binary run as a createRuntime hook: the
// container's state on stdin, the init's mountinfo (its namespace, before
// pivot_root) copied to out.
func mountinfoHook(out string) int {
	var st specs.State
	if err := json.NewDecoder(os.Stdin).Decode(&st); err != nil {
		fmt.Fprintln(os.Stderr, "mountinfo hook: state:", err)
		return 1
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", st.Pid))
	if err == nil {
		err = os.WriteFile(out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mountinfo hook:", err)
		return 1
	}
	return 0
}

// raceSwaps exchanges each pair of names in dir with renameat2
// RENAME_EXCHANGE, then waits a random while below maxDwell, until the test
// ends, and counts the rounds. It leaves every pair as it found it.
func raceSwaps(t *testing.T, dir string, maxDwell time.Duration, names ...string) *atomic.Int64 {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for i := 0; i+1 < len(names); i += 2 {
				if err := unix.Renameat2(dfd, names[i], dfd, names[i+1], unix.RENAME_EXCHANGE); err != nil {
					t.Errorf("renameat2 %s %s: %v", names[i], names[i+1], err)
					return
				}
			}
			n.Add(1)
			// Busy: a sleep this short would last far longer.
			for until := time.Now().Add(rand.N(maxDwell)); time.Now().Before(until); {
			}
		}
		if n.Load()%2 == 1 {
			for i := 0; i+1 < len(names); i += 2 {
				unix.Renameat2(dfd, names[i], dfd, names[i+1], unix.RENAME_EXCHANGE)
			}
		}
	}()
	t.Cleanup(func() {
		stop.Store(true)
		wg.Wait()
		unix.Close(dfd)
	})
	return &n
}

// naiveMountEscapes runs the test binary as naiveMounter, in a mount
// namespace of its own that dies with it, and returns how many tries it
// took to land on canary/t0.
func naiveMountEscapes(rootfs, canary string) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), naiveMounterEnv+"="+filepath.Join(rootfs, "abs", "t0")+":"+filepath.Join(canary, "t0"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// naiveMounter is the test binary (see TestMain) mounting as a runtime that
// follows symlinks would: a tmpfs on the path string target, until one
// lands on landing, or for 2 seconds. It prints the tries. Its mount namespace
// is its own (made private first): nothing it mounts reaches the host.
func naiveMounter(arg string) int {
	target, landing, _ := strings.Cut(arg, ":")
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		fmt.Println("make / private:", err)
		return 1
	}
	var base unix.Stat_t
	if err := unix.Stat(filepath.Dir(landing), &base); err != nil {
		fmt.Println(err)
		return 1
	}
	// The racer may get little CPU on a loaded machine: try for a while.
	tries := 0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		tries++
		if unix.Mount("naive", target, "tmpfs", 0, "") != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(landing, &st) == nil && st.Dev != base.Dev {
			fmt.Println(tries)
			return 0
		}
	}
	fmt.Printf("never landed in %d tries (2s)\n", tries)
	return 1
}

type mountEntry struct{ root, point, fstype, source string }

func (m mountEntry) String() string {
	return fmt.Sprintf("%s on %s (%s, root %s)", m.source, m.point, m.fstype, m.root)
}

// parseMountinfo reads proc(5)'s mountinfo lines: "id parent major:minor
// root mount-point options [optional...] - fstype source super-options".
func parseMountinfo(data string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, mountEntry{root: unescapeMountinfo(f[3]), point: unescapeMountinfo(f[4]), fstype: f[sep+1], source: unescapeMountinfo(f[sep+2])})
	}
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 for a space...).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// under tells whether path is dir or below it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// listTree lists every path below dir, relative to it, sorted.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

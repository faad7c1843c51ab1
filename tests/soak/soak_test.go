// Package soak runs many containers through the runtime and then checks the
// whole machine for what they left: 1000 sequential `run`s of /bin/true, 50
// parallel ones, and 100 `create`s SIGKILLed at a random point, each followed
// by `delete --force`. Afterwards there must be no new mount, no cgroup
// directory named by one of these IDs under any hierarchy, nothing in the
// --root directory and no process left (testutil.MachineGuard).
//
// The test binary runs itself again in a mount namespace of its own (private
// propagation), so "no new mount" can mean every mount the runtime could have
// made in its caller's namespace, while other test packages mount in the
// host's at the same time.
//
// Counts and the random seed are flags, for reproducing a failure:
//
//	go test ./tests/soak -run Soak -v -soak.killed 500 -soak.seed 42
package soak

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-runtime/strata/tests/rootfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

var (
	nSequential = flag.Int("soak.sequential", 1000, "sequential runs of /bin/true")
	nParallel   = flag.Int("soak.parallel", 50, "runs of /bin/true started at once")
	nKilled     = flag.Int("soak.killed", 100, "creates SIGKILLed at a random point")
	maxDelay    = flag.Duration("soak.maxdelay", 30*time.Millisecond, "longest wait before killing a create")
	seed        = flag.Uint64("soak.seed", 0, "seed for the kill delays (0: from the clock)")
)

// nsEnv marks the copy of the test binary running in its own mount namespace.
const nsEnv = "STRATA_SOAK_MOUNTNS"

func TestMain(m *testing.M) {
	if os.Getenv(nsEnv) == "" && os.Geteuid() == 0 {
		os.Exit(inOwnMountNamespace())
	}
	tu.Main(m)
}

// inOwnMountNamespace runs this test binary again, with the same arguments,
// in a new mount namespace: Go makes its mounts private, so nothing mounted
// on the host propagates into it and nothing made in it reaches the host.
func inOwnMountNamespace() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "soak: run the tests in a mount namespace of their own:", err)
		return 1
	}
	// go test's timeout (SIGQUIT) and ^C reach the copy, which cleans up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() > 0:
		return exitErr.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
}

// soak is one run: a shared rootfs copy and --root, a bundle (a config.json
// naming the shared rootfs) per container, and the machine guard.
type soak struct {
	t      *testing.T
	dir    string
	rootfs string
	root   string
	guard  *tu.MachineGuard
}

func TestSoak(t *testing.T) {
	s := newSoak(t)
	start := time.Now()
	var timings []string
	phase := func(name string, f func(t *testing.T)) {
		t0 := time.Now()
		t.Run(name, f)
		timings = append(timings, fmt.Sprintf("%s %.1fs", name, time.Since(t0).Seconds()))
	}
	phase("sequential", s.sequential)
	phase("parallel", s.parallel)
	phase("killed-create", s.killedCreates)
	t0 := time.Now()
	s.guard.Check(t, 5*time.Second)
	timings = append(timings, fmt.Sprintf("leak check %.1fs", time.Since(t0).Seconds()))
	t.Logf("soak: %d containers in %.1fs (%s)", len(s.guard.IDs()), time.Since(start).Seconds(), strings.Join(timings, ", "))
}

func newSoak(t *testing.T) *soak {
	dir := t.TempDir()
	// The containers reach the rootfs through here: no 0700 on the way.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &soak{t: t, dir: dir, rootfs: filepath.Join(dir, "rootfs"), root: filepath.Join(dir, "root")}
	src, err := rootfs.Cached()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", src, s.rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copy the rootfs: %v\n%s", err, out)
	}
	if err := os.Mkdir(s.root, 0o700); err != nil {
		t.Fatal(err)
	}
	s.guard = tu.NewMachineGuard(s.root, dir)
	// TestSoak checks for leftovers once the phases are over, pass or fail;
	// this removes them afterwards, so that the machine is clean either way.
	t.Cleanup(func() { s.guard.Sweep(t) })
	return s
}

// bundle writes the bundle of a new container running /bin/true, with its
// own cgroupsPath (tu.BaseSpec), and tracks its ID.
func (s *soak) bundle(t *testing.T) (id, bundle string) {
	id = tu.UniqueID(t)
	s.guard.Track(id)
	bundle = filepath.Join(s.dir, "bundles", id)
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := tu.BaseSpec(id)
	spec.Root.Path = s.rootfs
	spec.Process.Args = []string{"/bin/true"}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return id, bundle
}

func (s *soak) run(t *testing.T, id, bundle string) (tu.Result, time.Duration) {
	cmd := tu.Command(s.root, id, "run", "--bundle", bundle, id)
	t0 := time.Now()
	r := tu.Exec(t, cmd)
	return r, time.Since(t0)
}

// sequential runs /bin/true one container after another; each run must
// exit 0 (and, in the foreground, delete its container).
func (s *soak) sequential(t *testing.T) {
	var lat []time.Duration
	failures := 0
	for i := range *nSequential {
		id, bundle := s.bundle(t)
		r, d := s.run(t, id, bundle)
		lat = append(lat, d)
		if r.Code != 0 {
			t.Errorf("run %d of %d: %s", i+1, *nSequential, r)
			if failures++; failures == 5 {
				t.Fatalf("stopping after %d failed runs", failures)
			}
		}
	}
	t.Logf("%d sequential runs: %s", len(lat), stats(lat))
}

// parallel starts every run at once.
func (s *soak) parallel(t *testing.T) {
	type job struct{ id, bundle string }
	jobs := make([]job, *nParallel)
	for i := range jobs {
		jobs[i].id, jobs[i].bundle = s.bundle(t)
	}
	lat := make([]time.Duration, len(jobs))
	results := make([]tu.Result, len(jobs))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, j := range jobs {
		wg.Go(func() {
			<-gate
			results[i], lat[i] = s.run(t, j.id, j.bundle)
		})
	}
	t0 := time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(t0)
	for _, r := range results {
		if r.Code != 0 {
			t.Errorf("parallel run: %s", r)
		}
	}
	t.Logf("%d parallel runs in %v wall: %s", len(jobs), wall.Round(time.Millisecond), stats(lat))
}

// killedCreates starts `create` and SIGKILLs it after a random delay. Killed
// before its init reported ready, the create must take the init with it (the
// init's parent death signal); either way `delete --force` must then succeed
// or say the container does not exist, and leave neither state, cgroup nor
// process of the container.
func (s *soak) killedCreates(t *testing.T) {
	sd := *seed
	if sd == 0 {
		sd = uint64(time.Now().UnixNano())
	}
	t.Logf("kill delays from -soak.seed %d", sd)
	rng := rand.New(rand.NewPCG(sd, 0))
	var killed, afterReady, completed []time.Duration
	problems := 0
	for i := range *nKilled {
		id, bundle := s.bundle(t)
		delay := time.Duration(rng.Int64N(int64(*maxDelay) + 1))
		outcome, problem := s.killedCreate(t, id, bundle, delay)
		switch outcome {
		case "killed":
			killed = append(killed, delay)
		case "killed after ready":
			afterReady = append(afterReady, delay)
		case "completed":
			completed = append(completed, delay)
		}
		if problem != "" {
			// All of them are run, for the counts; the first few told.
			if problems++; problems <= 10 {
				t.Errorf("create %d of %d (%s), SIGKILL %v after start, %s: %s", i+1, *nKilled, id, delay, outcome, problem)
			}
		}
	}
	if problems > 0 {
		t.Errorf("%d of %d killed creates left something behind", problems, *nKilled)
	}
	t.Logf("%d creates: %d killed while creating (delays %s); %d killed once ready, left created (delays %s); %d had finished (delays %s)",
		*nKilled, len(killed), stats(killed), len(afterReady), stats(afterReady), len(completed), stats(completed))
	if len(killed) == 0 {
		t.Errorf("no create was killed while it ran: the kill points test nothing")
	}
}

func (s *soak) killedCreate(t *testing.T, id, bundle string, delay time.Duration) (outcome, problem string) {
	// The init inherits stdio: files in the bundle, so that a surviving
	// init is also found by what it holds open.
	stderr, err := os.Create(filepath.Join(bundle, "create.err"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd := tu.Command(s.root, id, "create", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	err = cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		outcome = "killed"
	case err == nil:
		outcome = "completed"
	default:
		out, _ := os.ReadFile(stderr.Name())
		return "failed", fmt.Sprintf("create failed on its own (%v): %s", err, out)
	}
	var problems []string
	if outcome == "killed" {
		// The init, if there was one yet, dies with its parent, unless the
		// create got as far as recording a created container: then the
		// container exists and delete --force must remove it.
		if left := s.waitGone(id, bundle, 2*time.Second); len(left) > 0 {
			if st, ok := s.state(t, id); ok && st.Status == "created" && onlyPid(left, st.Pid) {
				outcome = "killed after ready"
			} else {
				problems = append(problems, fmt.Sprintf("processes outlived the killed create (state: %+v): %s", st, strings.Join(left, "; ")))
			}
		}
	}
	r := tu.Exec(t, tu.Command(s.root, id, "delete", "--force", id))
	if r.Code != 0 && !strings.Contains(r.Stderr, "does not exist") {
		problems = append(problems, fmt.Sprintf("delete --force: exit %d: %s", r.Code, r.Stderr))
	}
	if left := s.waitGone(id, bundle, 2*time.Second); len(left) > 0 {
		problems = append(problems, "processes after delete --force: "+strings.Join(left, "; "))
	}
	if _, err := os.Lstat(filepath.Join(s.root, id)); err == nil {
		entries, _ := os.ReadDir(filepath.Join(s.root, id))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		problems = append(problems, fmt.Sprintf("state directory %s left after delete --force (holding %v)", filepath.Join(s.root, id), names))
	}
	if dirs := tu.CgroupDirsOf(id); len(dirs) > 0 {
		problems = append(problems, "cgroups left after delete --force: "+strings.Join(dirs, " "))
	}
	return outcome, strings.Join(problems, "; ")
}

// state is what `state ID` reports, if it reports anything.
func (s *soak) state(t *testing.T, id string) (st tu.State, ok bool) {
	r := tu.Exec(t, tu.Command(s.root, id, "state", id))
	return st, r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &st) == nil
}

// onlyPid tells whether every process listed (as testutil's guard lists
// them, pid first) is pid.
func onlyPid(procs []string, pid int) bool {
	for _, p := range procs {
		var n int
		if _, err := fmt.Sscan(p, &n); err != nil || n != pid {
			return false
		}
	}
	return pid > 0
}

// waitGone waits until no process belongs to container id, and returns
// those still there after timeout. Zombies count until reaped.
func (s *soak) waitGone(id, bundle string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		left := s.guard.ProcessesOf(id, bundle)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.SortFunc(s, cmp.Compare)
	q := func(f float64) time.Duration { return s[int(f*float64(len(s)-1))].Round(10 * time.Microsecond) }
	return fmt.Sprintf("min %v, median %v, p90 %v, p99 %v, max %v", q(0), q(0.5), q(0.9), q(0.99), q(1))
}

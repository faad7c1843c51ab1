package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/tests/testutil"
)

// runSeries: 30 foreground `run`s of /bin/true in a row; ms per run. The
// configs are written before the clock starts.
func (b *bench) runSeries(rt *runtime) (float64, error) { return b.runSeriesWith(rt, nil) }

// runSeriesWith is runSeries with a change to every container's spec.
func (b *bench) runSeriesWith(rt *runtime, change func(*specs.Spec)) (float64, error) {
	const n = 30
	bundles := make([][2]string, n)
	for i := range bundles {
		id, bundle, err := b.newContainerWith(rt, change, "/bin/true")
		if err != nil {
			return 0, err
		}
		bundles[i] = [2]string{id, bundle}
	}
	start := time.Now()
	for _, c := range bundles {
		if _, err := rt.command("run", "--bundle", c[1], c[0]); err != nil {
			return 0, err
		}
	}
	elapsed := time.Since(start)
	for _, c := range bundles {
		b.removeBundle(c[1])
	}
	return ms(elapsed) / n, nil
}

// runCPU: the CPU time (user and system) of 30 foreground `run`s of
// /bin/true, as wait4 reports it for the runtime process: its own and that
// of the children it reaped (the container's init and program: every
// runtime here reaps them in the foreground); ms per run. Unlike the wall
// time, this hardly moves with what else the host runs, and it is what
// bounds the parallel throughput on a saturated machine.
func (b *bench) runCPU(rt *runtime) (float64, error) {
	const n = 30
	var total time.Duration
	for range n {
		id, bundle, err := b.newContainer(rt, "/bin/true")
		if err != nil {
			return 0, err
		}
		st, err := rt.command("run", "--bundle", bundle, id)
		b.removeBundle(bundle)
		if err != nil {
			return 0, err
		}
		total += st.UserTime() + st.SystemTime()
	}
	return ms(total) / n, nil
}

// cycle: create, start, wait for the process to exit, delete; ms per cycle,
// over 10 cycles.
func (b *bench) cycle(rt *runtime) (float64, error) {
	const n = 10
	var total time.Duration
	for range n {
		id, bundle, err := b.newContainer(rt, "/bin/true")
		if err != nil {
			return 0, err
		}
		pidFile := filepath.Join(bundle, "pid")
		start := time.Now()
		if _, err := rt.command("create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
			return 0, err
		}
		pid, err := readPid(pidFile)
		if err == nil {
			_, err = rt.command("start", id)
		}
		if err == nil {
			err = waitExit(pid)
		}
		if err == nil {
			_, err = rt.command("delete", id)
		}
		total += time.Since(start)
		if err != nil {
			rt.command("delete", "--force", id)
			return 0, err
		}
		b.removeBundle(bundle)
	}
	return ms(total) / n, nil
}

// exec: 10 `exec`s of /bin/true into one running container; ms per exec.
func (b *bench) exec(rt *runtime) (float64, error) {
	const n = 10
	id, bundle, err := b.newContainer(rt, "sleep", "1000")
	if err != nil {
		return 0, err
	}
	defer b.removeBundle(bundle)
	defer rt.command("delete", "--force", id)
	if _, err := rt.command("run", "--detach", "--bundle", bundle, id); err != nil {
		return 0, err
	}
	start := time.Now()
	for range n {
		if _, err := rt.command("exec", id, "/bin/true"); err != nil {
			return 0, err
		}
	}
	return ms(time.Since(start)) / n, nil
}

// createdRSS: VmRSS of the container's init, waiting in the created state,
// at the pid `state` reports; KiB.
func (b *bench) createdRSS(rt *runtime) (float64, error) {
	id, bundle, err := b.newContainer(rt, "/bin/true")
	if err != nil {
		return 0, err
	}
	defer b.removeBundle(bundle)
	defer rt.command("delete", "--force", id)
	if _, err := rt.command("create", "--bundle", bundle, id); err != nil {
		return 0, err
	}
	out, err := rt.output("state", id)
	if err != nil {
		return 0, err
	}
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal(out, &st); err != nil || st.Status != "created" || st.Pid <= 0 {
		return 0, fmt.Errorf("%s state: want a created container with a pid, got %s (%v)", rt.name, out, err)
	}
	return vmRSS(st.Pid)
}

// peakRSS: the largest resident set of the `run` process of /bin/true (or of
// a child it waited for: runc's re-exec'd init), as /usr/bin/time -f %M
// reports it; KiB. Through time, not from this bench's own wait4: a child
// of this Go process starts with its resident set as the high-water mark
// (fork copies the counters; Go's vfork shares the mm until execve), which
// hid every runtime below about 10 MiB behind the bench's own size.
func (b *bench) peakRSS(rt *runtime) (float64, error) {
	id, bundle, err := b.newContainer(rt, "/bin/true")
	if err != nil {
		return 0, err
	}
	defer b.removeBundle(bundle)
	out := filepath.Join(bundle, "maxrss")
	args := []string{"-f", "%M", "-o", out, rt.path, "--root", rt.root, "run", "--bundle", bundle, id}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if msg, err := exec.CommandContext(ctx, timeBinary, args...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s %s: %v: %s", timeBinary, strings.Join(args, " "), err, bytes.TrimSpace(msg))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
}

// timeBinary is GNU time (Debian's package time).
const timeBinary = "/usr/bin/time"

// seccompRun: runSeries with tests/seccomp/default.json, a docker-style
// default profile (several hundred syscalls), as linux.seccomp.
func (b *bench) seccompRun(rt *runtime) (float64, error) {
	repo, err := testutil.RepoRoot()
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile(filepath.Join(repo, "tests", "seccomp", "default.json"))
	if err != nil {
		return 0, err
	}
	var profile specs.LinuxSeccomp
	if err := json.Unmarshal(data, &profile); err != nil {
		return 0, fmt.Errorf("tests/seccomp/default.json: %w", err)
	}
	return b.runSeriesWith(rt, func(s *specs.Spec) { s.Linux.Seccomp = &profile })
}

// throughput: `loops` goroutines each running `run` of /bin/true back to back
// for the given time; completed runs per second.
func (b *bench) throughput(rt *runtime, loops int, seconds float64) (float64, error) {
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var (
		mu       sync.Mutex
		count    int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				id, bundle, err := b.newContainer(rt, "/bin/true")
				if err == nil {
					_, err = rt.command("run", "--bundle", bundle, id)
					b.removeBundle(bundle)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					count++
				}
				stop := firstErr != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(count) / time.Since(start).Seconds(), nil
}

// output runs a runtime command that starts no container (state) and
// returns its stdout.
func (rt *runtime) output(args ...string) ([]byte, error) {
	var out bytes.Buffer
	_, err := rt.run(&out, args...)
	return out.Bytes(), err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func readPid(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

func vmRSS(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb), err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func pidfdOpen(pid int) (int, error) { return unix.PidfdOpen(pid, 0) }

// pollIn waits until fd is readable: for a pidfd, until the process exits.
func pollIn(fd int, timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("process did not exit within %v", timeout)
		}
		return nil
	}
}

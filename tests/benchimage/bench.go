package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/tests/bench/stats"
	"github.com/strata-runtime/strata/tests/cgroupfs"
)

// commandTimeout bounds every command: a hung tool fails the bench rather
// than holding it forever.
const commandTimeout = 10 * time.Minute

type bench struct {
	*tools
	dir          string // temp dir holding everything the bench makes
	cgroupParent string // the containers' cgroups live below it in every hierarchy
	dropCaches   bool
	facts        []string // what the report says about the images and the change

	mu       sync.Mutex
	cleanups []func() // run last first
	cleaned  bool
}

func newBench(t *tools, dropCaches bool) (*bench, error) {
	dir, err := os.MkdirTemp("", "strata-bench-image-")
	if err != nil {
		return nil, err
	}
	b := &bench{tools: t, dir: dir, dropCaches: dropCaches, cgroupParent: fmt.Sprintf("strata-bench-image-%d", os.Getpid())}
	b.onCleanup(func() {
		for _, root := range cgroupfs.Roots(cgroupfs.Hierarchies()) {
			for _, l := range cgroupfs.RemoveTree(filepath.Join(root, b.cgroupParent)) {
				fmt.Fprintln(os.Stderr, "bench-image: cannot remove cgroup", l)
			}
		}
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench-image:", err)
		}
	})
	return b, nil
}

// onCleanup registers f to run at cleanup, before everything registered
// earlier (a container is deleted before its bundle, the bundle before the
// temp dir).
func (b *bench) onCleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

// cleanup runs once, whether from main's return, a failure or a signal.
func (b *bench) cleanup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cleaned {
		return
	}
	b.cleaned = true
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

// unmountUnder detaches every mount below dir, deepest first: a bundle's
// rootfs or podman's overlay left by an interrupted command.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			fmt.Fprintf(os.Stderr, "bench-image: unmounting %s: %v\n", p, err)
		}
	}
}

// removeDir removes a directory a measurement made, unmounting first what a
// failed command may have left mounted in it.
func removeDir(dir string) {
	unmountUnder(dir)
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench-image:", err)
	}
}

// stopping is cancelled on SIGINT or SIGTERM, which kills the command
// running then and fails every later one but the cleanup's.
var stopping, stop = context.WithCancel(context.Background())

// run runs a command and returns its standard output; a failure returns
// its standard error in the error. Both go to files, not pipes: a detached
// container would hold a pipe open and keep the command from returning.
func run(env []string, name string, args ...string) (string, error) {
	return runIn(stopping, env, name, args...)
}

// cleanupRun is run for the cleanup, which runs after stop too.
func cleanupRun(env []string, name string, args ...string) (string, error) {
	return runIn(context.Background(), env, name, args...)
}

func runIn(parent context.Context, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(parent, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var err error
	if cmd.Stdout, err = os.CreateTemp("", "strata-bench-image-out-"); err != nil {
		return "", err
	}
	if cmd.Stderr, err = os.CreateTemp("", "strata-bench-image-err-"); err != nil {
		return "", err
	}
	read := func(f any) string {
		file := f.(*os.File)
		file.Close()
		data, _ := os.ReadFile(file.Name())
		os.Remove(file.Name())
		return string(data)
	}
	err = cmd.Run()
	stdout, stderr := read(cmd.Stdout), read(cmd.Stderr)
	if err != nil {
		return stdout, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, stats.OneLine(stderr, 400))
	}
	return stdout, nil
}

// timed runs a command and returns how long it took, in seconds.
func timed(env []string, name string, args ...string) (float64, error) {
	start := time.Now()
	_, err := run(env, name, args...)
	return time.Since(start).Seconds(), err
}

// settle is what happens, untimed, before every measured command: the
// previous tool's writeback must not slow this one, so sync; with
// -drop-caches, the page cache is emptied too.
func (b *bench) settle() error {
	unix.Sync()
	if !b.dropCaches {
		return nil
	}
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

// syncTime is how long a sync takes right after a tool returned: the
// writeback of what the tool left in the page cache, which the table adds
// to the command's time as "until on disk".
func syncTime() float64 {
	start := time.Now()
	unix.Sync()
	return time.Since(start).Seconds()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// result is one test executable's run.
type result struct {
	name     string
	tap      tapResult
	exit     int // -1: killed (timeout or signal)
	timedOut bool
	elapsed  time.Duration
	pass     bool
	why      string
	stderr   string   // last lines of the test's stderr, for the notes
	left     []string // what the test and the runtime left behind (removed)
	setupErr error
}

func (r result) exitString() string {
	if r.exit < 0 {
		return "kill"
	}
	return strconv.Itoa(r.exit)
}

// notes says why a test failed, in a few lines, and what was left behind.
func (r result) notes() []string {
	var notes []string
	if r.setupErr != nil {
		notes = append(notes, "setup: "+r.setupErr.Error())
	}
	if !r.pass {
		for i, l := range r.tap.NotOKLines {
			if i == 3 {
				notes = append(notes, fmt.Sprintf("(%d more not ok)", len(r.tap.NotOKLines)-3))
				break
			}
			notes = append(notes, "not ok: "+l)
		}
		for _, e := range r.tap.OrphanErrors {
			notes = append(notes, "error: "+oneLine(e, 300))
		}
		if r.stderr != "" && (r.tap.NotOK == 0 || r.exit != 0) {
			notes = append(notes, "stderr: "+oneLine(r.stderr, 300))
		}
	}
	for _, l := range r.left {
		notes = append(notes, "left behind (removed): "+l)
	}
	return notes
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// runTest runs one test executable in its own directory, cgroup and state
// root, then removes all three and what they hold.
func runTest(ctx context.Context, o options, work string, hs []string, name string) (r result) {
	r = result{name: name, exit: -1}
	dir := filepath.Join(work, name)
	tmp, root := filepath.Join(dir, "tmp"), filepath.Join(dir, "state")
	// Traversable by others: containers with a user namespace run as a
	// mapped uid that must reach the bundle (linux_uid_mappings).
	for _, d := range []string{work, dir, tmp, root} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			r.setupErr = err
			return r
		}
		os.Chmod(d, 0o711)
	}
	cgName := fmt.Sprintf("%s-%d", name, os.Getpid())
	defer func() {
		r.left = append(r.left, cleanup(o, hs, cgName, dir, root)...)
		os.RemoveAll(dir)
	}()
	cgDirs, err := makeTestCgroups(hs, cgName)
	if err != nil {
		r.setupErr = err
		return r
	}
	wrapper := filepath.Join(work, wrapperName)
	if _, err := os.Lstat(wrapper); err != nil {
		self, _ := os.Executable()
		if err := os.Symlink(self, wrapper); err != nil {
			r.setupErr = err
			return r
		}
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	self, _ := os.Executable()
	cmd := exec.CommandContext(ctx, self, filepath.Join(o.suite, name))
	cmd.Dir = o.suite
	cmd.Env = append(os.Environ(),
		enterEnv+"="+strings.Join(cgDirs, ":"), "TMPDIR="+tmp, "RUNTIME="+wrapper,
		realEnv+"="+o.runtime, rootEnv+"="+root, ociVersionEnv+"="+o.ociVersion)
	// Its own process group, killed whole on timeout: the test, its runtime
	// commands and hooks. Output goes to files, not pipes: a container may
	// inherit them and outlive the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stdout, err1 := os.Create(filepath.Join(dir, "stdout"))
	stderr, err2 := os.Create(filepath.Join(dir, "stderr"))
	if err := errors.Join(err1, err2); err != nil {
		r.setupErr = err
		return r
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err = cmd.Run()
	r.elapsed = time.Since(start)
	stdout.Close()
	stderr.Close()
	r.timedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		r.exit = 0
	case errors.As(err, &exitErr):
		r.exit = exitErr.ExitCode()
	default:
		r.setupErr = err
	}
	out, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	errOut, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	r.tap = parseTAP(bytes.NewReader(out))
	r.stderr = lastLines(errOut, 5)
	r.pass, r.why = r.tap.verdict(r.exit, r.timedOut)
	if o.logDir != "" {
		os.MkdirAll(o.logDir, 0o755)
		os.WriteFile(filepath.Join(o.logDir, name+".tap"), out, 0o644)
		os.WriteFile(filepath.Join(o.logDir, name+".stderr"), errOut, 0o644)
	}
	return r
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanup deletes the containers left in the test's state root, removes its
// cgroups and unmounts what is still mounted below its directory. It returns
// what it found, for the report.
func cleanup(o options, hs []string, cgName, dir, root string) (left []string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		// Dot entries are a runtime's own (strata's .cache~ of seccomp
		// programs), not containers.
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		left = append(left, "container "+e.Name())
		exec.Command(o.runtime, "--root", root, "delete", "--force", e.Name()).Run()
	}
	stale, leftover := cleanupCgroups(hs, cgName)
	for _, s := range stale {
		left = append(left, "cgroup "+s)
	}
	for _, l := range leftover {
		left = append(left, "cgroup not removable: "+l)
	}
	for _, m := range mountsBelow(dir) {
		left = append(left, "mount "+m)
		unix.Unmount(m, unix.MNT_DETACH)
	}
	return left
}

// mountsBelow lists mount points at or below dir, deepest first.
func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			mounts = append([]string{fields[4]}, mounts...)
		}
	}
	return mounts
}

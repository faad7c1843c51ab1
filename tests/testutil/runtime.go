// Package testutil holds what every end-to-end test of a runtime binary needs:
// the binary (built once, or named by the environment), bundles made from the
// busybox test rootfs, unique container IDs, running a runtime command with its
// output and exit status, and a leak guard.
//
// The runtime under test is strata unless $RUNTIME names another binary (for
// example RUNTIME=/usr/sbin/runc), so the same tests prove themselves against a
// reference runtime. $STRATA_BINARY names a prebuilt strata; otherwise Main
// builds one from the repository. A case that tests a behaviour of strata's
// own skips by name under another runtime (StrataOnly).
package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CommandTimeout bounds every runtime command, so a hung runtime fails one test
// instead of the whole run.
const CommandTimeout = 60 * time.Second

// markerEnv is set in the environment of every runtime command; the leak guard
// finds the runtime's helper processes by it.
const markerEnv = "STRATA_TEST_ID"

var (
	runtimePath string
	isStrata    bool
	strataPath  string
)

// M is what Main runs: the *testing.M of TestMain, or a wrapper whose Run
// first checks what the suite needs of the binaries.
type M interface{ Run() int }

// Main resolves (or builds) the runtime binary, runs the tests, removes what it
// built and exits. Call it from TestMain.
func Main(m M) {
	os.Exit(mainCode(m, false))
}

// MainWithStrata is Main for a suite that runs strata's own commands (`strata
// bundle`) beside the runtime under test: StrataPath is strata even when
// $RUNTIME names another runtime ($STRATA_BINARY, or built as Main builds it).
func MainWithStrata(m M) {
	os.Exit(mainCode(m, true))
}

func mainCode(m M, needStrata bool) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "these tests need root")
		return 1
	}
	cleanup, err := resolveRuntime(needStrata)
	defer cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testutil:", err)
		return 1
	}
	defer removeCgroupParents()
	fmt.Fprintf(os.Stderr, "testing runtime %s (strata: %v)\n", runtimePath, isStrata)
	if needStrata && !isStrata {
		fmt.Fprintf(os.Stderr, "strata's own commands from %s\n", strataPath)
	}
	return m.Run()
}

func resolveRuntime(needStrata bool) (cleanup func(), err error) {
	cleanup = func() {}
	if p := os.Getenv("RUNTIME"); p != "" {
		if runtimePath, err = exec.LookPath(p); err != nil {
			return cleanup, err
		}
		isStrata = strings.Contains(filepath.Base(p), "strata")
		if isStrata {
			strataPath = runtimePath
		}
		if isStrata || !needStrata {
			return cleanup, nil
		}
	}
	strataPath, cleanup, err = resolveStrata()
	if runtimePath == "" {
		runtimePath, isStrata = strataPath, true
	}
	return cleanup, err
}

// resolveStrata is $STRATA_BINARY, or strata built into a temporary
// directory that cleanup removes.
func resolveStrata() (path string, cleanup func(), err error) {
	cleanup = func() {}
	if p := os.Getenv("STRATA_BINARY"); p != "" {
		path, err = filepath.Abs(p)
		return path, cleanup, err
	}
	repo, err := RepoRoot()
	if err != nil {
		return "", cleanup, err
	}
	dir, err := os.MkdirTemp("", "strata-bin-")
	if err != nil {
		return "", cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "strata")
	// Through the Makefile: the one place that knows how strata is built.
	build := exec.Command("make", "--no-print-directory", "-s", "strata", "OUT="+path)
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return "", cleanup, fmt.Errorf("building strata: %v\n%s", err, out)
	}
	return path, cleanup, nil
}

// RepoRoot is the directory holding go.mod, found upwards from the working
// directory (go test runs each package in its own directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// RuntimePath is the binary under test.
func RuntimePath() string { return runtimePath }

// IsStrata tells whether the runtime under test is strata. Assertions on the
// wording of error messages apply only then: other runtimes word theirs
// differently.
func IsStrata() bool { return isStrata }

// StrataPath is the strata binary: the runtime under test when that is
// strata; with another runtime, set only by MainWithStrata (else "").
func StrataPath() string { return strataPath }

// StrataOnly skips t by name when the runtime under test is not strata. It is
// for a case that tests a behaviour of strata's own (a refusal another runtime
// does not make, a command or field it does not have), which another runtime
// cannot pass: such a case must not return early and count as passed. Never
// for a missing privilege, kernel feature or tool: those fail the test.
func StrataOnly(t testing.TB, reason string) {
	t.Helper()
	if !isStrata {
		t.Skipf("strata-only case, not run against %s: %s", runtimePath, reason)
	}
}

// Result is what a runtime command did.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int // exit status; -1 if it did not exit normally (timeout, signal)
}

func (r Result) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// Exec runs cmd with stdin from /dev/null and stdout/stderr into files, not
// pipes: a detached container inherits them and would hold a pipe open past
// the runtime's exit, making Wait hang. It reports problems with t.Errorf, not
// t.Fatal, so tests may call it from several goroutines.
func Exec(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	res := Result{Args: cmd.Args, Code: -1}
	name := strings.Join(cmd.Args, " ")
	outF, err := os.CreateTemp("", "strata-out-")
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return res
	}
	defer os.Remove(outF.Name())
	defer outF.Close()
	errF, err := os.CreateTemp("", "strata-err-")
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return res
	}
	defer os.Remove(errF.Name())
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	if err := cmd.Start(); err != nil {
		t.Errorf("%s: %v", name, err)
		return res
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(CommandTimeout):
		// SIGQUIT first: a Go runtime (strata, runc) prints every
		// goroutine's stack on it, which says where it hung.
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case werr = <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			werr = <-done
		}
		t.Errorf("%s: timed out after %v (stderr has its stacks)", name, CommandTimeout)
	}
	var exitErr *exec.ExitError
	switch {
	case werr == nil:
		res.Code = 0
	case errors.As(werr, &exitErr):
		res.Code = exitErr.ExitCode()
	}
	out, _ := os.ReadFile(outF.Name())
	errOut, _ := os.ReadFile(errF.Name())
	res.Stdout, res.Stderr = string(out), string(bytes.TrimSpace(errOut))
	return res
}

// Command returns the runtime invoked with --root root and args, marked with id
// for the leak guard.
func Command(root, id string, args ...string) *exec.Cmd {
	cmd := exec.Command(runtimePath, append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), markerEnv+"="+id)
	return cmd
}

// NeedTools wraps m so that the suite fails, loudly and before any test,
// when one of tools is not on $PATH (or, with a slash, not there): a test
// that needs a missing tool must not count as passing. suite and install
// name the suite and how to get the tools, for the message.
func NeedTools(m M, suite, install string, tools ...string) M {
	return toolCheck{m, suite, install, tools}
}

type toolCheck struct {
	m              M
	suite, install string
	tools          []string
}

func (c toolCheck) Run() int {
	for _, tool := range c.tools {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "%s needs %s (%s): %v\n", c.suite, tool, c.install, err)
			return 1
		}
	}
	return c.m.Run()
}

// Command validation runs the OCI runtime-tools validation suite against one
// runtime and judges it; `make validation` builds the suite and calls it.
//
// Every executable in -suite (one per test, built from runtime-tools'
// validation/ directory, beside runtimetest and rootfs-amd64.tar.gz, which
// they read from their working directory) runs one after the other, with a
// timeout, in its own cgroup (see cgroup.go) and its own TMPDIR, where the
// suite makes its bundles. The suite calls $RUNTIME as runc would be called;
// it gets a wrapper (wrap.go) that adds a private --root. After each test,
// whatever is left (containers, cgroups, mounts, files) is removed and
// reported.
//
// The output is a table (test, TAP ok / not ok / skip counts, exit status,
// verdict) and the closing line "validation: N passed, N failed", N counting
// test executables. With -expected FILE, the exit status is 1 when a test
// listed there did not pass; tests that pass but are not listed are named,
// so someone adds them.
package main

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

type options struct {
	suite, runtime, expected, ociVersion, logDir string
	timeout                                      time.Duration
	hugetlbV1                                    bool
	only                                         *regexp.Regexp
}

func main() {
	helperMode()
	os.Exit(run())
}

func run() int {
	var o options
	var only string
	flag.StringVar(&o.suite, "suite", "", "directory of the built suite: runtimetest, rootfs-amd64.tar.gz and the test executables")
	flag.StringVar(&o.runtime, "runtime", "./strata", "runtime under test (runc's command line)")
	flag.StringVar(&o.expected, "expected", "", "file listing the tests that must pass (empty: no check)")
	flag.StringVar(&o.ociVersion, "oci-version", "", "rewrite each bundle's ociVersion to this before create (crun 1.8 refuses 1.3.0)")
	flag.BoolVar(&o.hugetlbV1, "hugetlb-v1", false, "mount a v1 hugetlb hierarchy for the run (crun 1.8 on a hybrid host)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each test executable")
	flag.StringVar(&o.logDir, "logs", "", "keep each test's stdout and stderr in this directory")
	flag.StringVar(&only, "run", "", "run only the tests whose name matches this regexp")
	flag.Parse()
	o.only = regexp.MustCompile(only)
	if err := resolve(&o); err != nil {
		fmt.Fprintln(os.Stderr, "validation:", err)
		return 2
	}
	tests, err := listTests(o.suite, o.only)
	if err != nil || len(tests) == 0 {
		fmt.Fprintf(os.Stderr, "validation: no test executables in %s (%v): run make validation\n", o.suite, err)
		return 2
	}

	// SIGINT/SIGTERM stop the current test and skip the rest; the deferred
	// cleanups (hugetlb mount, work directory) still run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "strata-validation-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "validation:", err)
		return 2
	}
	defer os.RemoveAll(work)
	var extra []string
	if o.hugetlbV1 {
		dir := filepath.Join(work, "hugetlb")
		unmount, err := cgroupfs.MountHugetlbV1(dir, cgroupParent)
		if err != nil {
			fmt.Fprintln(os.Stderr, "validation:", err)
			return 2
		}
		defer func() {
			if err := unmount(); err != nil {
				fmt.Fprintln(os.Stderr, "validation: unmounting hugetlb:", err)
			}
		}()
		extra = append(extra, dir)
	}
	hs := cgroupfs.Hierarchies(extra...)
	defer removeCgroupParent(hs)

	fmt.Printf("runtime %s, suite %s, timeout %v per test\n\n", o.runtime, o.suite, o.timeout)
	fmt.Printf("%-36s %4s %6s %4s %5s %6s  %s\n", "test", "ok", "not ok", "skip", "exit", "secs", "verdict")
	var results []result
	for _, name := range tests {
		if ctx.Err() != nil {
			break
		}
		r := runTest(ctx, o, work, hs, name)
		results = append(results, r)
		verdict := "pass"
		if !r.pass {
			verdict = "FAIL: " + r.why
		}
		fmt.Printf("%-36s %4d %6d %4d %5s %6.1f  %s\n", name, r.tap.OK, r.tap.NotOK, r.tap.Skip, r.exitString(), r.elapsed.Seconds(), verdict)
	}
	return report(o, results)
}

// resolve makes the paths absolute: the tests run in the suite directory.
func resolve(o *options) error {
	if o.suite == "" {
		return errors.New("-suite is required")
	}
	var err error
	if o.suite, err = filepath.Abs(o.suite); err != nil {
		return err
	}
	if o.runtime, err = exec.LookPath(o.runtime); err != nil {
		return err
	}
	o.runtime, err = filepath.Abs(o.runtime)
	return err
}

// listTests names the test executables: every executable file of the suite
// directory but runtimetest (and this runner, if built there).
func listTests(dir string, only *regexp.Regexp) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	self, _ := os.Executable()
	var tests []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0 || e.Name() == "runtimetest" ||
			filepath.Join(dir, e.Name()) == self || !only.MatchString(e.Name()) {
			continue
		}
		tests = append(tests, e.Name())
	}
	sort.Strings(tests)
	return tests, nil
}

// report prints the failures' first lines, the closing line and the
// comparison with the expected-pass list; it returns the exit status.
func report(o options, results []result) int {
	passed, failed := 0, 0
	pass := map[string]bool{}
	for _, r := range results {
		if r.pass {
			passed++
			pass[r.name] = true
		} else {
			failed++
		}
	}
	fmt.Println()
	for _, r := range results {
		if notes := r.notes(); len(notes) > 0 {
			fmt.Printf("%s:\n  %s\n", r.name, strings.Join(notes, "\n  "))
		}
	}
	fmt.Printf("\nvalidation: %d passed, %d failed\n", passed, failed)
	if o.expected == "" {
		return 0
	}
	expected, err := readList(o.expected)
	if err != nil {
		fmt.Fprintln(os.Stderr, "validation:", err)
		return 2
	}
	ran := map[string]bool{}
	for _, r := range results {
		ran[r.name] = true
	}
	status := 0
	for _, name := range expected {
		if ran[name] && !pass[name] { // -run may have left it out
			fmt.Printf("REGRESSION: %s is listed in %s but did not pass\n", name, o.expected)
			status = 1
		}
	}
	listed := map[string]bool{}
	for _, name := range expected {
		listed[name] = true
	}
	for _, r := range results {
		if r.pass && !listed[r.name] {
			fmt.Printf("NEWLY PASSING: %s passes; add it to %s\n", r.name, o.expected)
		}
	}
	return status
}

// readList reads one test name a line; blank lines and # comments are skipped.
func readList(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if line, _, _ = strings.Cut(line, "#"); strings.TrimSpace(line) != "" {
			names = append(names, strings.TrimSpace(line))
		}
	}
	return names, nil
}

package rlimit

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The tests change limits of a whole process, so they run in a re-executed copy
// of the test binary. childEnv carries the limits to apply as JSON.
const childEnv = "STRATA_RLIMIT_CHILD"

// lowNofileEnv makes the child re-exec itself once with a low RLIMIT_NOFILE soft
// limit, so that the Go runtime of the second stage raises it at startup and
// remembers the low value: the situation of `strata init` on most hosts.
const lowNofileEnv = "STRATA_RLIMIT_LOW_NOFILE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		child(spec)
	}
	os.Exit(m.Run())
}

func child(spec string) {
	if os.Getenv(lowNofileEnv) == "1" {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fail(err)
		}
		lim.Cur = 256
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fail(err)
		}
		os.Setenv(lowNofileEnv, "2")
		fail(syscall.Exec("/proc/self/exe", os.Args, os.Environ()))
	}
	var rls []specs.POSIXRlimit
	if err := json.Unmarshal([]byte(spec), &rls); err != nil {
		fail(err)
	}
	if err := Apply(rls); err != nil {
		fail(err)
	}
	// What the container's process sees is what matters: exec like the init does.
	fail(syscall.Exec("/bin/cat", []string{"cat", "/proc/self/limits"}, nil))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(3)
}

// runChild applies rls in a child and returns /proc/self/limits of the program it
// then execs, or the error Apply returned.
func runChild(t *testing.T, rls []specs.POSIXRlimit, lowNofile bool, cred *syscall.Credential) (string, error) {
	t.Helper()
	data, err := json.Marshal(rls)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(data))
	if lowNofile {
		cmd.Env = append(cmd.Env, lowNofileEnv+"=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// limitLine returns the soft and hard columns of a /proc/<pid>/limits row.
func limitLine(t *testing.T, limits, title string) string {
	t.Helper()
	for _, line := range strings.Split(limits, "\n") {
		if strings.HasPrefix(line, title) {
			f := strings.Fields(line[len(title):])
			return f[0] + " " + f[1]
		}
	}
	t.Fatalf("no %q row in:\n%s", title, limits)
	return ""
}

func currentHard(t *testing.T, res int) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(res, &lim); err != nil {
		t.Fatal(err)
	}
	return lim.Max
}

func TestApplySeenAfterExec(t *testing.T) {
	t.Parallel()
	nofileHard := currentHard(t, syscall.RLIMIT_NOFILE)
	out, err := runChild(t, []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 300, Hard: nofileHard},
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 4096},
		{Type: "RLIMIT_NPROC", Soft: 500, Hard: 600},
	}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := limitLine(t, out, "Max open files"), fmt.Sprintf("300 %d", nofileHard); got != want {
		t.Errorf("RLIMIT_NOFILE = %q, want %q", got, want)
	}
	if got := limitLine(t, out, "Max core file size"); got != "0 4096" {
		t.Errorf("RLIMIT_CORE = %q, want \"0 4096\"", got)
	}
	if got := limitLine(t, out, "Max processes"); got != "500 600" {
		t.Errorf("RLIMIT_NPROC = %q, want \"500 600\"", got)
	}
}

// TestNofileSurvivesGoRestore checks the spec's RLIMIT_NOFILE wins over the soft
// limit the Go runtime saved at startup and would restore on exec.
func TestNofileSurvivesGoRestore(t *testing.T) {
	t.Parallel()
	nofileHard := currentHard(t, syscall.RLIMIT_NOFILE)
	out, err := runChild(t, []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 300, Hard: nofileHard},
	}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := limitLine(t, out, "Max open files"), fmt.Sprintf("300 %d", nofileHard); got != want {
		t.Errorf("RLIMIT_NOFILE = %q, want %q", got, want)
	}
}

// Without a spec entry, the process gets the soft limit the init started with,
// not the one Go raised for itself.
func TestNofileUnsetKeepsOriginal(t *testing.T) {
	t.Parallel()
	nofileHard := currentHard(t, syscall.RLIMIT_NOFILE)
	out, err := runChild(t, []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := limitLine(t, out, "Max open files"), fmt.Sprintf("256 %d", nofileHard); got != want {
		t.Errorf("RLIMIT_NOFILE = %q, want %q", got, want)
	}
}

func TestRaiseHardWithoutPrivilege(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to start a child as uid 65534")
	}
	// Lower then raise again: the second step needs CAP_SYS_RESOURCE, which an
	// unprivileged uid lacks whatever the host's bounding set.
	_, err := runChild(t, []specs.POSIXRlimit{
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 100},
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 200},
	}, false, &syscall.Credential{Uid: 65534, Gid: 65534})
	if err == nil {
		t.Fatal("raising a hard limit as uid 65534 succeeded")
	}
	for _, want := range []string{"process.rlimits[1] RLIMIT_CORE", "CAP_SYS_RESOURCE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestApplyRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rl   specs.POSIXRlimit
		want string
	}{
		{specs.POSIXRlimit{Type: "RLIMIT_FOO", Soft: 1, Hard: 1}, `process.rlimits[0]: unknown rlimit type "RLIMIT_FOO"`},
		{specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: 2048, Hard: 1024}, "process.rlimits[0] RLIMIT_CORE: soft limit 2048 exceeds hard limit 1024"},
	} {
		err := Apply([]specs.POSIXRlimit{tc.rl})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Apply(%+v) = %v, want %q", tc.rl, err, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	if r, err := Parse("RLIMIT_NOFILE"); err != nil || r != syscall.RLIMIT_NOFILE {
		t.Errorf("Parse(RLIMIT_NOFILE) = %d, %v", r, err)
	}
	if r, err := Parse("RLIMIT_RTTIME"); err != nil || r != 15 {
		t.Errorf("Parse(RLIMIT_RTTIME) = %d, %v; want 15", r, err)
	}
	if _, err := Parse("nofile"); err == nil {
		t.Error("Parse(nofile) succeeded; names are the spec's upper-case RLIMIT_ form")
	}
}

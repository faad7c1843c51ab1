package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var testState = &specs.State{
	Version:     specs.Version,
	ID:          "ctr-1",
	Status:      specs.StateCreated,
	Pid:         4242,
	Bundle:      "/bundles/ctr-1",
	Annotations: map[string]string{"a": "b"},
}

// script writes an executable shell script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunInOrderWithStateOnStdin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	first := script(t, dir, "first", `echo first >> "$1"; cat > "$2"`)
	second := script(t, dir, "second", `echo second >> "$1"`)
	err := Run("createRuntime", []specs.Hook{
		{Path: first, Args: []string{first, log, filepath.Join(dir, "stdin")}},
		{Path: second, Args: []string{second, log}},
	}, testState)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, log); got != "first\nsecond\n" {
		t.Errorf("hooks ran as %q, want first then second", got)
	}
	var got specs.State
	if err := json.Unmarshal([]byte(read(t, filepath.Join(dir, "stdin"))), &got); err != nil {
		t.Fatalf("stdin is not the state JSON: %v", err)
	}
	if !reflect.DeepEqual(&got, testState) {
		t.Errorf("stdin state = %+v, want %+v", got, *testState)
	}
}

// /proc/self/environ and /proc/self/cmdline show exactly what execve received.
func TestRunEnvAndArgv0(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hook := script(t, dir, "hook", `cat /proc/$$/environ > "$1.env"; cat /proc/$$/cmdline > "$1.argv"`)
	base := filepath.Join(dir, "out")
	err := Run("poststart", []specs.Hook{{Path: hook, Args: []string{"my-argv0", base}, Env: []string{"A=1", "B=two words"}}}, testState)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, base+".env"); got != "A=1\x00B=two words\x00" {
		t.Errorf("environ = %q, want exactly A and B", got)
	}
	// The kernel runs "/bin/sh <script> args" for a #! script; argv0 given to
	// execve is replaced by the script path, so check the remaining arguments.
	if got := read(t, base+".argv"); !strings.HasSuffix(got, "\x00"+base+"\x00") {
		t.Errorf("cmdline = %q, want it to end with the hook's argument", got)
	}

	// Without a script in between, argv0 is exactly Args[0] and no Env means none.
	out := filepath.Join(dir, "direct")
	if os.Getenv("PATH") == "" {
		t.Fatal("the leak check below needs the test's own environment to be non-empty")
	}
	err = Run("poststart", []specs.Hook{{Path: "/bin/sh", Args: []string{"argv0-here", "-c", `cat /proc/$$/cmdline > "$0.argv"; cat /proc/$$/environ > "$0.env"`, out}}}, testState)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, out+".argv"), "argv0-here\x00-c\x00"; !strings.HasPrefix(got, want) {
		t.Errorf("cmdline = %q, want it to start with %q", got, want)
	}
	if got := read(t, out+".env"); got != "" {
		t.Errorf("hook with no env got %q: the runtime's environment leaked", got)
	}
}

func TestRunFailureStopsAndReportsOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := script(t, dir, "ok", "true")
	bad := script(t, dir, "bad", "echo some output; echo 'cannot do it' >&2; exit 3")
	never := script(t, dir, "never", `touch "$0.ran"`)
	err := Run("prestart", []specs.Hook{{Path: ok}, {Path: bad}, {Path: never}}, testState)
	want := `hooks.prestart[1] "` + bad + `": exit status 3: some output` + "\ncannot do it"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if _, err := os.Stat(never + ".ran"); err == nil {
		t.Error("a hook after the failed one ran")
	}
}

func TestRunOutputIsBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noisy := script(t, dir, "noisy", `i=0; while [ $i -lt 2000 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 1`)
	err := Run("poststop", []specs.Hook{{Path: noisy}}, testState)
	if err == nil {
		t.Fatal("failing hook reported no error")
	}
	if len(err.Error()) > maxOutput+200 {
		t.Errorf("error is %d bytes long, want the output cut to %d", len(err.Error()), maxOutput)
	}
	if !strings.HasSuffix(err.Error(), "line 1999") || strings.Contains(err.Error(), "line 0\n") {
		t.Errorf("error should keep the end of the output: ...%s", err.Error()[len(err.Error())-40:])
	}
}

func TestRunTimeoutKillsHookAndChildren(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	slow := script(t, dir, "slow", `echo waiting >&2; sleep 30 & echo $! > "$1"; wait`)
	timeout := 1
	start := time.Now()
	err := Run("startContainer", []specs.Hook{{Path: slow, Args: []string{slow, pidFile}, Timeout: &timeout}}, testState)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Run took %v with a 1s timeout", elapsed)
	}
	want := `hooks.startContainer[0] "` + slow + `": timed out after 1s: waiting`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	// The background sleep was in the hook's process group: it must be gone.
	pid := strings.TrimSpace(read(t, pidFile))
	deadline := time.Now().Add(2 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %s survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A poststart hook may start a daemon that keeps the hook's output open: Run
// must return when the hook itself exits.
func TestRunDoesNotWaitForBackgroundChildren(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	daemon := script(t, dir, "daemon", `sleep 30 & echo $! > "$1"`)
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	if err := Run("poststart", []specs.Hook{{Path: daemon, Args: []string{daemon, pidFile}}}, testState); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Run waited %v for the hook's background child", elapsed)
	}
}

func TestRunBadHooks(t *testing.T) {
	t.Parallel()
	zero := 0
	for _, tc := range []struct {
		hook specs.Hook
		want string
	}{
		{specs.Hook{Path: "/nonexistent/hook"}, `hooks.poststop[0] "/nonexistent/hook": fork/exec /nonexistent/hook: no such file or directory`},
		{specs.Hook{Path: "/bin/true", Timeout: &zero}, `hooks.poststop[0] "/bin/true": timeout 0: must be positive`},
	} {
		err := Run("poststop", []specs.Hook{tc.hook}, testState)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Run(%+v) = %v, want %s", tc.hook, err, tc.want)
		}
	}
	if err := Run("poststop", nil, nil); err != nil {
		t.Errorf("no hooks: %v", err)
	}
}

// poststart and poststop failures are warnings: the later hooks still run.
func TestRunAllGoesOnAfterFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := script(t, dir, "bad", "exit 2")
	after := script(t, dir, "after", `touch "$0.ran"`)
	err := RunAll("poststop", []specs.Hook{{Path: bad}, {Path: after}, {Path: bad}}, testState)
	for _, want := range []string{`hooks.poststop[0] "` + bad + `": exit status 2`, `hooks.poststop[2] "` + bad + `": exit status 2`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %s", err, want)
		}
	}
	if _, err := os.Stat(after + ".ran"); err != nil {
		t.Error("the hook after a failed one did not run")
	}
}

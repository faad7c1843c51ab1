package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// slackMonitor (sysmonslack.go) gives one thread of a strata command, the
// Go runtime's monitor, a timer slack of 2 ms, and nothing else: not the
// command's other threads, not the container's processes, not an exec'd
// one. They keep the slack of whoever started strata.
func TestTimerSlackOnlyOnMonitorThread(t *testing.T) {
	t.Parallel()
	tu.StrataOnly(t, "only strata stretches its runtime monitor's sleeps")
	if !slackedRun(t) && !t.Failed() {
		t.Error("no thread of strata run has a 2 ms timer slack")
	}
}

// slackedRun runs a container in the foreground and checks the timer slack
// of strata's threads, of the container's process and of an exec'd one;
// it says whether one thread of strata had the monitor's.
func slackedRun(t *testing.T) bool {
	c := tu.NewContainer(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "cat /proc/self/timerslack_ns > /slack; " + trapper}
	})
	slackFile := filepath.Join(c.Rootfs(), "slack") // the container's /slack
	out := filepath.Join(c.Dir, "out")
	cmd := tu.Command(c.Root, c.ID, "run", "--bundle", c.Bundle, c.ID)
	done := startTrapping(t, cmd, out, nil)
	defer termExits(t, cmd, done, out)

	cli := cmd.Process.Pid
	inherited := slackOf(t, cli) // the main thread's: what strata was started with
	if inherited == "2000000" {
		t.Fatalf("the test itself runs with a timer slack of 2 ms: nothing to tell apart")
	}
	tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", cli))
	if err != nil {
		t.Fatal(err)
	}
	var slacked []string
	for _, e := range tids {
		tid, _ := strconv.Atoi(e.Name())
		switch s := slackOf(t, tid); s {
		case "2000000":
			slacked = append(slacked, e.Name())
		case inherited:
		default:
			t.Errorf("thread %d of strata run has a timer slack of %s ns, want %s (inherited) or 2000000 (the monitor)", tid, s, inherited)
		}
	}
	if len(slacked) > 1 || len(slacked) == 1 && slacked[0] == strconv.Itoa(cli) {
		t.Errorf("threads of strata run (pid %d) with a 2 ms slack: %v, want at most one, not the main one", cli, slacked)
	}
	if got, _ := os.ReadFile(slackFile); strings.TrimSpace(string(got)) != inherited {
		t.Errorf("the container's process has a timer slack of %q ns, want %s", got, inherited)
	}
	r := c.Runtime("exec", c.ID, "cat", "/proc/self/timerslack_ns")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != inherited {
		t.Errorf("an exec'd process's timer slack: %s, want %s", r, inherited)
	}
	return len(slacked) == 1
}

func slackOf(t *testing.T, tid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

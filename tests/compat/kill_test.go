package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// trapper is a container process that records, in /tmp/sigs of its
// rootfs, each catchable signal it gets: PID 1 of a PID namespace gets only
// the signals it handles, so the traps are what make them arrive. It
// writes /tmp/ready once they are set.
var trapper = sh(`for s in HUP INT USR1 USR2 TERM WINCH; do trap "echo $s >> /tmp/sigs" $s; done; touch /tmp/ready; while :; do sleep 0.1; done`)

// containerFile waits for the container to write a file in its rootfs's
// /tmp and returns its content ("" if it never came).
func containerFile(s *session, id, name string) string {
	path := filepath.Join(s.dir, "bundle-"+id, "rootfs", "tmp", name)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			return string(data)
		}
	}
	return ""
}

// trapsSet waits until the trapper has set its traps: a signal sent
// before would be lost, in either runtime.
func trapsSet(s *session, id string) {
	_, err := os.Stat(filepath.Join(s.dir, "bundle-"+id, "rootfs", "tmp", "ready"))
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, err = os.Stat(filepath.Join(s.dir, "bundle-"+id, "rootfs", "tmp", "ready"))
	}
	s.note("the traps are set", fmt.Sprint(err == nil))
}

// afterSignals waits for the container to record a signal and compares
// what it recorded.
func afterSignals(s *session, id string) {
	s.note("signals the container got", strings.TrimSpace(containerFile(s, id, "sigs")))
	s.state(id)
}

func TestKillSignalSpellings(t *testing.T) {
	t.Parallel()
	var cases []cliCase
	for _, sig := range []string{
		"", "TERM", "SIGTERM", "15", "term", "sigterm", "Term",
		"USR1", "SIGUSR1", "10", "usr2", "HUP", "1", "INT", "SIGWINCH", "28",
	} {
		cases = append(cases, cliCase{
			name: "sig-" + sig, state: "running", mutate: trapper, before: trapsSet,
			args: append(a("kill $ID"), strings.Fields(sig)...), after: afterSignals,
		})
	}
	runTable(t, cases)
}

// flagsAnywhere: runc takes flags after the ID only for some commands
// (the last argument, or after `update ID`); strata takes them anywhere
// before `--`, so a command line runc refuses as too many arguments works.
var flagsAnywhere = expect{
	deliberate: "strata parses flags after positional arguments everywhere, a superset of runc's command lines",
	strata:     succeeds,
}

func TestKill(t *testing.T) {
	t.Parallel()
	stops := afterWait("stopped")
	runTable(t, []cliCase{
		{name: "KILL", state: "running", args: a("kill $ID KILL"), exp: ok, after: stops},
		{name: "SIGKILL", state: "running", args: a("kill $ID SIGKILL"), exp: ok, after: stops},
		{name: "9", state: "running", args: a("kill $ID 9"), exp: ok, after: stops},
		{name: "lowercase", state: "running", args: a("kill $ID kill"), after: stops},
		{name: "sigkill-lowercase", state: "running", args: a("kill $ID sigkill"), after: stops},
		// Signal 0: is it alive? Nothing is sent.
		{name: "0-running", state: "running", args: a("kill $ID 0"), exp: ok, after: afterState},
		{name: "0-created", state: "created", args: a("kill $ID 0"), after: afterState},
		{name: "0-stopped", state: "stopped", args: a("kill $ID 0"), after: afterState},
		{name: "minus-9", state: "running", args: a("kill $ID -9"), after: afterState},
		{name: "64", state: "running", args: a("kill $ID 64"), after: afterState},
		{name: "65", state: "running", args: a("kill $ID 65"), exp: fail, after: afterState},
		{name: "invalid-name", state: "running", args: a("kill $ID SIGFOO"), exp: fail, after: afterState},
		{name: "not-a-number", state: "running", args: a("kill $ID 1.5"), exp: fail, after: afterState},
		{name: "RTMIN", state: "running", args: a("kill $ID RTMIN"), after: afterState},
		{name: "RTMIN+1", state: "running", args: a("kill $ID RTMIN+1"), after: afterState},
		{name: "all", state: "running", args: a("kill --all $ID KILL"), exp: ok, after: stops},
		{name: "a", state: "running", args: a("kill -a $ID KILL"), exp: ok, after: stops},
		{name: "all-after-id", state: "running", args: a("kill $ID --all KILL"), exp: flagsAnywhere},
		{name: "all-last", state: "running", args: a("kill $ID KILL --all"), after: stops},
		{name: "double-dash", state: "running", args: a("kill -- $ID KILL"), after: stops},
		{name: "extra-arg", state: "running", args: a("kill $ID KILL extra"), exp: usage, after: afterState},
		{name: "created", state: "created", args: a("kill $ID KILL"), exp: ok, after: stops},
		{name: "paused", state: "paused", args: a("kill $ID KILL"), after: afterState},
		{name: "stopped", state: "stopped", args: a("kill $ID KILL"), exp: fail, after: afterState},
		{name: "all-stopped", state: "stopped", args: a("kill --all $ID KILL"), after: afterState},
		{name: "nosuch", args: a("kill $NOSUCH KILL"), exp: fail},
		{name: "no-args", args: a("kill"), exp: usage},
	})
}

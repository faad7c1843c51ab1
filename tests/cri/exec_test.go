//go:build cri

package cri

import (
	"strings"
	"testing"
	"time"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// execSync: ExecSync returns the command's stdout and stderr, runs it as a
// process of the runtime's container (pid 1 is the pod's pause), and
// reports a non-zero exit status.
func (p *pod) execSync(t *testing.T, id string) {
	// crictl prints ExecSync's stdout, then its stderr, both on its stdout.
	r := p.e.crictl(t, "exec", "-s", id, "sh", "-c", "echo out; cat /proc/1/cmdline; echo; echo err >&2")
	if r.Code != 0 || r.Stdout != "out\n/pause\x00\n\nerr\n\n" {
		t.Errorf("exec -s: want stdout \"out\" then pid 1's /pause, then stderr \"err\": %s", r)
	}
	// crictl 1.37 reports ExecSync's exit status in its error message.
	if r := p.e.crictl(t, "exec", "-s", id, "sh", "-c", "exit 3"); r.Code == 0 || !strings.Contains(r.Stderr, "exited with 3") {
		t.Errorf("exec -s of `exit 3`: want failure naming exit status 3: %s", r)
	}
	p.runtimeHas(t, id)
}

// execSyncTimeout: an ExecSync whose command outlives its timeout fails
// when the timeout ends, not when the command would have.
func (p *pod) execSyncTimeout(t *testing.T, id string) {
	start := time.Now()
	r := p.e.crictl(t, "exec", "-s", "--timeout", "2", id, "sleep", "30")
	took := time.Since(start)
	if r.Code == 0 || took > 20*time.Second || !strings.Contains(r.Stderr, "timeout") {
		t.Errorf("exec -s --timeout 2 of sleep 30: want a timeout error within 20 s; after %v: %s", took.Round(time.Millisecond), r)
	}
	// The runtime's process was killed: nothing sleeps 30 in the pod.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Contains(p.execOut(t, id, "ps", "-o", "args"), "sleep 30") {
		if time.Now().After(deadline) {
			t.Errorf("the timed-out exec's `sleep 30` still runs 10 s after its timeout")
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// execStreaming: exec through the CRI streaming server (SPDY), with stdin
// relayed and the exit status reported.
func (p *pod) execStreaming(t *testing.T, id string) {
	cmd := p.e.ns.command(crictlPath(), "--config", p.e.crictlCfg, "exec", "-i", id, "sh", "-c", "read line; echo got $line; hostname")
	cmd.Stdin = strings.NewReader("hello-stdin\n")
	r := tu.Exec(t, cmd)
	if r.Code != 0 || r.Stdout != "got hello-stdin\npod-"+p.h.name+"\n" {
		t.Errorf("streaming exec -i: want stdin echoed and the pod's hostname: %s", r)
	}
	r = p.e.crictl(t, "exec", id, "sh", "-c", "exit 4")
	if r.Code == 0 || !strings.Contains(r.Stderr, "exit code 4") {
		t.Errorf("streaming exec of `exit 4`: want failure naming exit code 4: %s", r)
	}
}

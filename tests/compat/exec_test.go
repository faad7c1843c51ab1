package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-runtime/strata/tests/cgroupfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// afterPidFile compares what the pid file at $TMP/name holds.
func afterPidFile(name string) func(s *session, id string) {
	return func(s *session, id string) { s.note("pid file "+name, pidFile(filepath.Join(s.dir, name), 0)) }
}

func TestExec(t *testing.T) {
	t.Parallel()
	out := func(want string) expect { return expect{check: both(exitsWith(0), stdoutIs(want))} }
	processJSON := `{"args": ["sh", "-c", "echo from-process-json; id -u"], "cwd": "/tmp", "env": ["PATH=/bin"], "user": {"uid": 1000, "gid": 1000}}`
	runTable(t, []cliCase{
		{name: "true", state: "running", args: a("exec $ID true"), exp: ok},
		{name: "exit-3", state: "running", args: []string{"exec", "$ID", "sh", "-c", "exit 3"}, exp: expect{check: exitsWith(3)}},
		// An exec'd process is no PID 1: a signal to itself kills it.
		{name: "killed-9", state: "running", args: []string{"exec", "$ID", "sh", "-c", "kill -9 $$"}, exp: expect{check: exitsWith(137)}},
		{name: "killed-term", state: "running", args: []string{"exec", "$ID", "sh", "-c", "kill -TERM $$"}, exp: expect{check: exitsWith(143)}},
		// exec itself fails: runc exits 255.
		{name: "no-such-command", state: "running", args: a("exec $ID nosuchcommand"), exp: expect{check: exitsWith(255)}},
		{name: "not-executable", state: "running", args: a("exec $ID /etc/passwd"), exp: expect{check: exitsWith(255)}},
		{name: "paused", state: "paused", args: a("exec $ID true"), exp: expect{check: exitsWith(255)}},
		{name: "pid-file-unwritable", state: "running", args: a("exec --pid-file $TMP/no/such/dir/pid $ID true"), exp: expect{check: exitsWith(255)}},
		{name: "created", state: "created", args: a("exec $ID true")},
		{name: "stopped", state: "stopped", args: a("exec $ID true"), exp: fail},
		{name: "nosuch", args: a("exec $NOSUCH true"), exp: fail},
		{name: "no-command", state: "running", args: a("exec $ID"), exp: usage},
		{name: "no-args", args: a("exec"), exp: usage},
		{name: "stdout-stderr", state: "running", args: []string{"exec", "$ID", "sh", "-c", "echo out; echo err >&2"}, exp: out("out\n")},
		{name: "env", state: "running", args: a("exec --env X=1 --env Y=2 $ID env")},
		// urfave/cli refuses a flag's two spellings in one command line.
		{name: "env-two-spellings", state: "running", args: a("exec --env X=1 -e Y=2 $ID env"), exp: usage},
		{name: "env-replaces", state: "running", args: a("exec -e PATH=/bin -e TERM=dumb $ID env")},
		{name: "env-equals", state: "running", args: []string{"exec", "--env=X=a=b", "$ID", "sh", "-c", "echo $X"}, exp: out("a=b\n")},
		// runc stops parsing flags at the ID: "--env" is the command.
		{name: "env-after-id", state: "running", args: a("exec $ID --env X=1 sh -c true")},
		// runc takes "--" after the ID for the command.
		{name: "double-dash", state: "running", args: a("exec $ID -- echo -n hi"), exp: expect{check: exitsWith(255)}},
		{name: "double-dash-before-id", state: "running", args: a("exec -- $ID echo -n hi")},
		{name: "args-with-dashes", state: "running", args: a("exec $ID echo -e a\\tb"), exp: out("a\tb\n")},
		{name: "cwd", state: "running", args: a("exec --cwd /tmp $ID pwd"), exp: out("/tmp\n")},
		{name: "cwd-relative", state: "running", args: a("exec --cwd tmp $ID pwd")},
		{name: "cwd-missing", state: "running", args: a("exec --cwd /nonexistent $ID pwd"), exp: expect{check: exitsWith(255)}},
		{name: "user", state: "running", args: a("exec -u 1000 $ID id"), exp: out("uid=1000(user) gid=0(root)\n")},
		{name: "user-group", state: "running", args: a("exec --user 1000:1000 $ID id"), exp: out("uid=1000(user) gid=1000(user)\n")},
		{name: "user-name", state: "running", args: a("exec -u user $ID id")},
		{name: "additional-gids", state: "running", args: a("exec -u 1000:1000 -g 10 -g 29 $ID id")},
		{name: "cap", state: "running", args: a("exec --cap CAP_SYS_ADMIN $ID grep Cap /proc/self/status")},
		// config.md: capabilities that cannot be granted are logged as a
		// warning; runtimes SHOULD NOT fail.
		{name: "cap-unknown", state: "running", args: a("exec --cap CAP_NOSUCH $ID true"), exp: ok},
		{name: "no-new-privs", state: "running", args: a("exec --no-new-privs $ID grep NoNewPrivs /proc/self/status")},
		{name: "detach", state: "running", args: a("exec -d --pid-file $TMP/exec.pid $ID sleep 100"), exp: ok, after: afterPidFile("exec.pid")},
		{name: "pid-file", state: "running", args: a("exec --pid-file $TMP/exec.pid $ID true"), exp: ok, after: afterPidFile("exec.pid")},
		{name: "pid-file-relative", state: "running", args: a("exec -d --pid-file exec.pid $ID sleep 100"), exp: ok, after: afterPidFile("exec.pid")},
		{name: "process-json", state: "running", args: a("exec --process $TMP/process.json $ID"),
			files: map[string]string{"process.json": processJSON}, exp: out("from-process-json\n1000\n")},
		{name: "process-json-p-ignores-args", state: "running", args: a("exec -p $TMP/process.json $ID echo ignored"),
			files: map[string]string{"process.json": processJSON}},
		{name: "process-json-missing", state: "running", args: a("exec -p $TMP/nosuch.json $ID"), exp: expect{check: exitsWith(255)}},
		{name: "preserve-fds-0", state: "running", args: a("exec --preserve-fds 0 $ID true"), exp: ok},
		{name: "ignore-paused-detached", state: "paused", args: a("exec -d --ignore-paused $ID true")},
		// No terminal on stdin and no socket.
		{name: "tty-no-terminal", state: "running", args: a("exec -t $ID true"), exp: expect{
			deliberate: "exec -t from a caller without a controlling terminal: strata relays the pty to its stdio, runc fails opening /dev/tty",
			strata:     succeeds,
		}},
		{name: "tty-detached-no-socket", state: "running", args: a("exec -t -d $ID true"), exp: fail},
		{name: "apparmor", state: "running", args: a("exec --apparmor unconfined $ID true")},
		{name: "process-label", state: "running", args: a("exec --process-label system_u:system_r:container_t:s0 $ID true")},
		{name: "stdin", state: "running", args: a("exec $ID cat"), exp: expect{stdin: "piped\n", check: stdoutIs("piped\n")}},
	})
}

// TestExecCgroup: --cgroup runs the process in an existing sub-cgroup of
// the container's, in every hierarchy (no controller prefix) or one.
func TestExecCgroup(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		id, _ := s.container("running")
		for _, h := range cgroupfs.Hierarchies() {
			dir := filepath.Join(h, tu.CgroupParent, id)
			if _, err := os.Stat(dir); err == nil {
				if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		s.run("exec", "--cgroup", "sub", id, "cat", "/proc/self/cgroup")
		s.run("exec", "--cgroup", "memory:sub", id, "grep", "memory", "/proc/self/cgroup")
		s.run("exec", "--cgroup", "nosuch", id, "true")
		s.run("exec", "--cgroup", "memory:nosuch", id, "true")
		s.run("exec", id, "cat", "/proc/self/cgroup")
	})
}

func TestPs(t *testing.T) {
	t.Parallel()
	rows := expect{out: table("UID", "CMD")}
	pids := expect{out: asJSON(shape{equal: []string{"#"}})}
	runTable(t, []cliCase{
		{name: "running", state: "running", args: a("ps $ID"), exp: rows},
		{name: "created", state: "created", args: a("ps $ID"), exp: expect{out: rows.out,
			deliberate: "a created container's init shows as `strata init` (the runtime's name), runc's as the path runc was invoked by",
			strata: func(r result) error {
				if !strings.Contains(r.stdout, " init\n") {
					return fmt.Errorf("no init process listed: %s", r)
				}
				return nil
			}}},
		{name: "paused", state: "paused", args: a("ps $ID"), exp: rows},
		{name: "stopped", state: "stopped", args: a("ps $ID"), exp: rows},
		{name: "json", state: "running", args: a("ps -f json $ID"), exp: pids},
		{name: "format-json", state: "running", args: a("ps --format json $ID"), exp: pids},
		{name: "json-after-id", state: "running", args: a("ps $ID -f json")},
		{name: "json-stopped", state: "stopped", args: a("ps -f json $ID"), exp: pids},
		{name: "ps-args", state: "running", args: a("ps $ID -o pid,comm"), exp: expect{out: table("COMMAND")}},
		{name: "ps-args-dash-dash", state: "running", args: a("ps $ID -- -o pid,comm"), exp: expect{out: table("COMMAND")}},
		{name: "ps-args-no-pid", state: "running", args: a("ps $ID -o comm"), exp: fail},
		{name: "bad-format", state: "running", args: a("ps -f yaml $ID"), exp: fail},
		{name: "nosuch", args: a("ps $NOSUCH"), exp: fail},
		{name: "no-id", args: a("ps"), exp: usage},
	})
}

func TestEvents(t *testing.T) {
	t.Parallel()
	// Some counters are omitempty in both runtimes' stats and come and go
	// with what the container happened to touch: the page cache of a
	// just-created container may be zero in one and not in the other, and
	// only the container that first reads a cold file (busybox, on a fresh
	// machine) has block I/O charged to it.
	stats := expect{out: asJSON(shape{equal: []string{".type", ".id"}, optional: []string{
		".data.memory.cache",
		".data.blkio.ioServiceBytesRecursive",
		".data.blkio.ioServicedRecursive",
	}})}
	runTable(t, []cliCase{
		{name: "stats-running", state: "running", args: a("events --stats $ID"), exp: stats},
		{name: "stats-created", state: "created", args: a("events --stats $ID"), exp: stats},
		{name: "stats-paused", state: "paused", args: a("events --stats $ID"), exp: stats},
		{name: "stats-stopped", state: "stopped", args: a("events --stats $ID"), exp: fail},
		{name: "stats-after-id", state: "running", args: a("events $ID --stats"), exp: flagsAnywhere},
		{name: "nosuch", args: a("events --stats $NOSUCH"), exp: fail},
		{name: "no-id", args: a("events --stats"), exp: usage},
		{name: "bad-interval", state: "running", args: a("events --interval bogus $ID"), exp: usage},
		// A stream of stats until killed.
		{name: "stream", state: "running", args: a("events --interval 200ms $ID"), exp: expect{out: ignore, timeout: 2 * time.Second, check: statsStream}},
		// runc goes on polling a container that has stopped, until killed.
		{name: "stream-stopping", state: "running", mutate: args("sleep", "1"), args: a("events --interval 200ms $ID"), exp: expect{
			out: ignore, timeout: 4 * time.Second,
			deliberate: "events ends when the container stops, where runc polls a stopped container until killed",
			strata:     exitsWith(0),
		}},
	})
}

// statsStream checks an events stream cut short by the timeout: stats
// documents, one a line, every interval.
func statsStream(r result) error {
	if !r.timedOut {
		return fmt.Errorf("the stream ended: %s", r)
	}
	docs, err := decodeAll(r.stdout)
	if err != nil || len(docs) < 3 {
		return fmt.Errorf("want 3 or more stats lines in 2 s: %v: %s", err, quote(r.stdout))
	}
	return nil
}

// cgroupValue reads a file of the container's cgroup, in whichever
// hierarchy has it (file names are the controller's), for update's effect.
func cgroupValue(id, file string) string {
	for _, h := range cgroupfs.Hierarchies() {
		if data, err := os.ReadFile(filepath.Join(h, tu.CgroupParent, id, file)); err == nil {
			return string(data)
		}
	}
	return "no such file"
}

func afterCgroup(files ...string) func(s *session, id string) {
	return func(s *session, id string) {
		for _, f := range files {
			s.note("cgroup file "+f, cgroupValue(id, f))
		}
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	mem := afterCgroup("memory.limit_in_bytes")
	runTable(t, []cliCase{
		{name: "memory-bytes", state: "running", args: a("update --memory 10485760 $ID"), exp: ok, after: mem},
		{name: "memory-units", state: "running", args: a("update --memory 10M $ID"), exp: ok, after: mem},
		// Flags after the ID, as runc takes them (50M: a limit below the
		// container's usage would fail in both, by how much it uses).
		{name: "memory-after-id", state: "running", args: a("update $ID --memory 50M"), exp: ok, after: mem},
		{name: "memory-bogus", state: "running", args: a("update --memory bogus $ID"), exp: fail, after: mem},
		{name: "memory-reservation", state: "running", args: a("update --memory-reservation 5M $ID"), after: afterCgroup("memory.soft_limit_in_bytes")},
		{name: "memory-swap", state: "running", args: a("update --memory 20M --memory-swap -1 $ID"), after: mem},
		{name: "pids", state: "running", args: a("update --pids-limit 50 $ID"), exp: ok, after: afterCgroup("pids.max")},
		{name: "cpu-share", state: "running", args: a("update --cpu-share 512 $ID"), exp: ok, after: afterCgroup("cpu.shares")},
		{name: "cpu-quota", state: "running", args: a("update --cpu-quota 50000 --cpu-period 100000 $ID"), exp: ok,
			after: afterCgroup("cpu.cfs_quota_us", "cpu.cfs_period_us")},
		{name: "cpu-rt", state: "running", args: a("update --cpu-rt-period 1000000 --cpu-rt-runtime 0 $ID")},
		{name: "cpuset", state: "running", args: a("update --cpuset-cpus 0 --cpuset-mems 0 $ID"), after: afterCgroup("cpuset.cpus")},
		{name: "blkio-weight", state: "running", args: a("update --blkio-weight 500 $ID")},
		{name: "l3-cache-schema", state: "running", args: a("update --l3-cache-schema L3:0=f $ID")},
		{name: "mem-bw-schema", state: "running", args: a("update --mem-bw-schema MB:0=50 $ID")},
		{name: "resources-file", state: "running", args: a("update -r $TMP/res.json $ID"), exp: ok, after: mem,
			files: map[string]string{"res.json": `{"memory": {"limit": 20971520}, "pids": {"limit": 40}}`}},
		{name: "resources-stdin", state: "running", args: a("update --resources - $ID"), exp: expect{stdin: `{"memory": {"limit": 31457280}}`, check: succeeds}, after: mem},
		{name: "resources-bad-json", state: "running", args: a("update -r - $ID"), exp: expect{stdin: `{"memory":`, check: fails}},
		{name: "no-flags", state: "running", args: a("update $ID")},
		{name: "created", state: "created", args: a("update --memory 10M $ID"), exp: ok, after: mem},
		{name: "paused", state: "paused", args: a("update --memory 10M $ID"), exp: ok, after: mem},
		{name: "stopped", state: "stopped", args: a("update --memory 10M $ID"), exp: fail},
		{name: "nosuch", args: a("update $NOSUCH --memory 1M"), exp: fail},
		{name: "no-id", args: a("update --memory 1M"), exp: usage},
	})
}

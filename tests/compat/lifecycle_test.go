package compat

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRun(t *testing.T) {
	t.Parallel()
	terminal := func(s *specs.Spec) { s.Process.Terminal = true }
	runTable(t, []cliCase{
		{name: "exit-7", state: "bundle", mutate: sh("exit 7"), args: a("run -b $BUNDLE $ID"), exp: expect{check: exitsWith(7)}, after: afterState},
		{name: "output", state: "bundle", mutate: sh("echo out; echo err >&2"), args: a("run --bundle $BUNDLE $ID"), exp: expect{check: stdoutIs("out\n")}},
		{name: "stdin", state: "bundle", mutate: args("cat"), args: a("run -b $BUNDLE $ID"), exp: expect{stdin: "piped\n", check: stdoutIs("piped\n")}},
		{name: "keep", state: "bundle", mutate: sh("exit 3"), args: a("run --keep -b $BUNDLE $ID"), exp: expect{check: exitsWith(3)}, after: afterState},
		{name: "detach", state: "bundle", args: a("run -d -b $BUNDLE $ID"), exp: ok, after: afterState},
		{name: "detach-long", state: "bundle", args: a("run --detach -b $BUNDLE $ID"), exp: ok, after: afterState},
		{name: "detach-exits", state: "bundle", mutate: sh("exit 4"), args: a("run -d -b $BUNDLE $ID"), exp: ok, after: afterWait("stopped")},
		{name: "pid-file", state: "bundle", args: a("run -d --pid-file $TMP/run.pid -b $BUNDLE $ID"), exp: ok, after: afterPidFile("run.pid")},
		{name: "pid-file-relative", state: "bundle", args: a("run -d --pid-file run.pid -b $BUNDLE $ID"), exp: ok, after: afterPidFile("run.pid")},
		{name: "no-subreaper", state: "bundle", mutate: args("true"), args: a("run --no-subreaper -b $BUNDLE $ID"), exp: ok},
		{name: "no-pivot", state: "bundle", mutate: args("true"), args: a("run --no-pivot -b $BUNDLE $ID"), exp: ok},
		{name: "no-new-keyring", state: "bundle", mutate: sh("cat /proc/self/stat >/dev/null"), args: a("run --no-new-keyring -b $BUNDLE $ID"), exp: ok},
		{name: "preserve-fds-0", state: "bundle", mutate: args("true"), args: a("run --preserve-fds 0 -b $BUNDLE $ID"), exp: ok},
		// -b relative to the caller's cwd, and no -b: the cwd is the bundle.
		{name: "bundle-relative", state: "bundle", mutate: args("true"), args: a("run -b bundle-$ID $ID"), exp: ok},
		{name: "bundle-cwd", state: "bundle", mutate: args("true"), args: a("run $ID"), exp: expect{dir: "$BUNDLE", check: succeeds}},
		{name: "id-taken", state: "created", args: a("run -b $BUNDLE $ID"), exp: fail, after: afterState},
		{name: "no-id", args: a("run"), exp: usage},
		{name: "two-ids", state: "bundle", args: a("run -b $BUNDLE $ID $ID"), exp: usage},
		{name: "id-slash", state: "bundle", args: a("run -b $BUNDLE a/b"), exp: fail},
		{name: "id-dotdot", state: "bundle", args: a("run -b $BUNDLE .."), exp: fail},
		{name: "no-config", args: a("run -b $TMP $NOSUCH"), exp: fail},
		{name: "bundle-missing", args: a("run -b $TMP/nosuch $NOSUCH"), exp: fail},
		{name: "console-socket-no-terminal", state: "bundle", mutate: args("true"), args: a("run --console-socket $TMP/nosuch.sock -b $BUNDLE $ID")},
		{name: "terminal-detached-no-socket", state: "bundle", mutate: terminal, args: a("run -d -b $BUNDLE $ID"), exp: fail, after: afterState},
	})
}

func TestCreate(t *testing.T) {
	t.Parallel()
	elsewhere := map[string]string{"elsewhere/.keep": ""}
	runTable(t, []cliCase{
		{name: "plain", state: "bundle", args: a("create -b $BUNDLE $ID"), exp: ok, after: afterState},
		{name: "bundle-long", state: "bundle", args: a("create --bundle $BUNDLE $ID"), exp: ok, after: afterState},
		{name: "bundle-after-id", state: "bundle", args: a("create $ID -b $BUNDLE"), after: afterState},
		{name: "bundle-relative", state: "bundle", args: a("create -b bundle-$ID $ID"), exp: ok, after: afterState},
		{name: "bundle-cwd", state: "bundle", args: a("create $ID"), exp: expect{dir: "$BUNDLE", check: succeeds}, after: afterState},
		{name: "pid-file", state: "bundle", args: a("create --pid-file $TMP/c.pid -b $BUNDLE $ID"), exp: ok, after: afterPidFile("c.pid")},
		// A relative pid file is the caller's cwd's, not the bundle's.
		{name: "pid-file-relative", state: "bundle", files: elsewhere, args: a("create --pid-file ../c.pid -b $BUNDLE $ID"),
			exp: expect{dir: "$TMP/elsewhere", check: succeeds}, after: afterPidFile("c.pid")},
		{name: "pid-file-unwritable", state: "bundle", args: a("create --pid-file $TMP/no/such/c.pid -b $BUNDLE $ID"), exp: fail, after: afterState},
		{name: "no-pivot", state: "bundle", args: a("create --no-pivot -b $BUNDLE $ID"), exp: ok, after: afterState},
		{name: "no-new-keyring", state: "bundle", args: a("create --no-new-keyring -b $BUNDLE $ID"), exp: ok, after: afterState},
		{name: "preserve-fds-0", state: "bundle", args: a("create --preserve-fds 0 -b $BUNDLE $ID"), exp: ok, after: afterState},
		{name: "preserve-fds-bogus", state: "bundle", args: a("create --preserve-fds x -b $BUNDLE $ID"), exp: usage},
		{name: "id-taken", state: "running", args: a("create -b $BUNDLE $ID"), exp: fail, after: afterState},
		{name: "no-id", args: a("create"), exp: usage},
		{name: "start-exits", state: "created", mutate: sh("exit 5"), args: a("start $ID"), exp: ok, after: afterWait("stopped")},
	})
}

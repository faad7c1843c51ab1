package compat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cliCase is one command line run on a container in a given state.
type cliCase struct {
	name string
	// state of $ID before the command: "" (no container is made),
	// "bundle" (only its bundle), "created", "running", "paused" or
	// "stopped".
	state string
	// args; $ID, $NOSUCH (an ID nobody has), $BUNDLE (the container's
	// bundle) and $TMP (the session's directory) are expanded.
	args []string
	exp  expect
	// mutate changes the container's spec (its process...).
	mutate func(*specs.Spec)
	// files are written below $TMP first (name: content, expanded);
	// exp.stdin and exp.dir are expanded too.
	files map[string]string
	// before runs after the container is made (waits for it to be ready).
	before func(s *session, id string)
	// after observes what the command did, for comparison (afterState...).
	after func(s *session, id string)
}

// afterState compares `state $ID` after the command.
func afterState(s *session, id string) { s.state(id) }

// afterWait waits for the container to reach status (a killed one stops
// once reaped) and compares where it got to.
func afterWait(status string) func(s *session, id string) {
	return func(s *session, id string) { s.waitStatus(id, status) }
}

// runTable runs each case as a parallel subtest, comparing both runtimes.
func runTable(t *testing.T, cases []cliCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			compare(t, func(s *session) {
				vars := map[string]string{"$TMP": s.dir}
				var id string
				if c.state != "" {
					var bundle string
					var mutate []func(*specs.Spec)
					if c.mutate != nil {
						mutate = append(mutate, c.mutate)
					}
					id, bundle = s.container(c.state, mutate...)
					vars["$ID"], vars["$BUNDLE"] = id, bundle
				}
				vars["$NOSUCH"] = s.nosuch()
				for name, content := range c.files {
					path := filepath.Join(s.dir, name)
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(expand([]string{content}, vars)[0]), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if c.before != nil {
					c.before(s, id)
				}
				exp := c.exp
				exp.stdin = expand([]string{exp.stdin}, vars)[0]
				exp.dir = expand([]string{exp.dir}, vars)[0]
				s.runx(exp, expand(c.args, vars)...)
				if c.after != nil {
					c.after(s, id)
				}
			})
		})
	}
}

// expand replaces the placeholders in each argument (also inside one:
// --pid-file=$TMP/pid).
func expand(args []string, vars map[string]string) []string {
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, k, v)
	}
	r := strings.NewReplacer(pairs...)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

// a splits a command line written with spaces (no argument holds one).
func a(line string) []string { return strings.Fields(line) }

// Checks shared by the tables.
var (
	ok   = expect{check: succeeds}
	fail = expect{check: fails}
	// A usage error (missing or extra arguments): runc prints "Incorrect
	// Usage." and the command's help on stdout, strata its error on stderr
	// only; both fail and say why on stderr.
	usage = expect{out: ignore, check: fails}
)

func TestState(t *testing.T) {
	t.Parallel()
	runTable(t, []cliCase{
		{name: "created", state: "created", args: a("state $ID"), exp: stateExpect},
		{name: "running", state: "running", args: a("state $ID"), exp: stateExpect},
		{name: "paused", state: "paused", args: a("state $ID"), exp: stateExpect},
		{name: "stopped", state: "stopped", args: a("state $ID"), exp: stateExpect},
		{name: "nosuch", args: a("state $NOSUCH"), exp: fail},
		{name: "no-id", args: a("state"), exp: usage},
		{name: "two-ids", state: "running", args: a("state $ID $ID"), exp: usage},
		{name: "double-dash", state: "running", args: a("state -- $ID"), exp: stateExpect},
	})
}

func TestStart(t *testing.T) {
	t.Parallel()
	runTable(t, []cliCase{
		{name: "created", state: "created", args: a("start $ID"), exp: ok, after: afterState},
		{name: "running", state: "running", args: a("start $ID"), exp: fail, after: afterState},
		{name: "paused", state: "paused", args: a("start $ID"), exp: fail, after: afterState},
		{name: "stopped", state: "stopped", args: a("start $ID"), exp: fail, after: afterState},
		{name: "nosuch", args: a("start $NOSUCH"), exp: fail},
		{name: "no-id", args: a("start"), exp: usage},
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	gone := expect{check: succeeds}
	runTable(t, []cliCase{
		{name: "stopped", state: "stopped", args: a("delete $ID"), exp: gone, after: afterState},
		{name: "created", state: "created", args: a("delete $ID"), exp: expect{
			deliberate: "runtime.md (Delete): deleting a container that is not stopped MUST generate an error; runc deletes a created one",
			strata:     fails,
		}},
		{name: "running", state: "running", args: a("delete $ID"), exp: fail, after: afterState},
		{name: "paused", state: "paused", args: a("delete $ID"), exp: fail, after: afterState},
		{name: "force-running", state: "running", args: a("delete --force $ID"), exp: gone, after: afterState},
		{name: "f-running", state: "running", args: a("delete -f $ID"), exp: gone, after: afterState},
		{name: "force-after-id", state: "running", args: a("delete $ID --force"), exp: gone, after: afterState},
		{name: "force-paused", state: "paused", args: a("delete --force $ID"), exp: gone, after: afterState},
		{name: "force-created", state: "created", args: a("delete --force $ID"), exp: gone, after: afterState},
		{name: "force-stopped", state: "stopped", args: a("delete --force $ID"), exp: gone, after: afterState},
		// Engines clean up blindly: runc exits 0 for a forced delete of
		// an ID it never had.
		{name: "force-nosuch", args: a("delete --force $NOSUCH"), exp: expect{}},
		{name: "nosuch", args: a("delete $NOSUCH"), exp: fail},
		{name: "no-id", args: a("delete"), exp: usage},
		{name: "double-dash", state: "stopped", args: a("delete -- $ID"), exp: gone, after: afterState},
	})
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	runTable(t, []cliCase{
		{name: "pause-running", state: "running", args: a("pause $ID"), exp: ok, after: afterState},
		{name: "pause-paused", state: "paused", args: a("pause $ID"), exp: fail, after: afterState},
		// runc freezes a created container's init too.
		{name: "pause-created", state: "created", args: a("pause $ID"), exp: ok, after: afterState},
		{name: "pause-stopped", state: "stopped", args: a("pause $ID"), exp: fail, after: afterState},
		{name: "pause-nosuch", args: a("pause $NOSUCH"), exp: fail},
		{name: "pause-no-id", args: a("pause"), exp: usage},
		{name: "resume-paused", state: "paused", args: a("resume $ID"), exp: ok, after: afterState},
		{name: "resume-running", state: "running", args: a("resume $ID"), exp: fail, after: afterState},
		{name: "resume-created", state: "created", args: a("resume $ID"), exp: fail, after: afterState},
		{name: "resume-stopped", state: "stopped", args: a("resume $ID"), exp: fail, after: afterState},
		{name: "resume-nosuch", args: a("resume $NOSUCH"), exp: fail},
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	rows := expect{out: table("ID", "STATUS", "BUNDLE", "OWNER"), check: succeeds}
	listJSON := expect{out: asJSON(shape{equal: []string{"[].id", "[].status", "[].bundle", "[].rootfs", "[].owner", "#"}}), check: succeeds}
	ids := expect{check: succeeds}
	runTable(t, []cliCase{
		{name: "table", state: "running", args: a("list"), exp: rows},
		{name: "format-table", state: "created", args: a("list --format table"), exp: rows},
		{name: "f-json", state: "paused", args: a("list -f json"), exp: listJSON},
		{name: "format-json", state: "stopped", args: a("list --format json"), exp: listJSON},
		{name: "format=json", state: "running", args: a("list --format=json"), exp: listJSON},
		{name: "quiet", state: "running", args: a("list -q"), exp: ids},
		{name: "quiet-long", state: "stopped", args: a("list --quiet"), exp: ids},
		{name: "quiet-json", state: "running", args: a("list -q -f json"), exp: ids},
		{name: "bad-format", state: "running", args: a("list -f yaml"), exp: fail},
		{name: "extra-arg", state: "running", args: a("list $ID"), exp: usage},
		// A --root nobody made yet: an empty list, not an error.
		{name: "empty-root", args: a("--root $TMP/none list"), exp: expect{noRoot: true, out: table()}},
		{name: "empty-root-json", args: a("--root $TMP/none list -f json"), exp: expect{noRoot: true}},
		{name: "empty-root-quiet", args: a("--root $TMP/none list -q"), exp: expect{noRoot: true}},
	})
}

// TestListMany: several containers in every state, listed at once.
func TestListMany(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		for _, st := range []string{"created", "running", "paused", "stopped"} {
			s.container(st)
		}
		s.runx(expect{out: table("ID", "STATUS", "BUNDLE", "OWNER")}, "list")
		s.runx(expect{out: asJSON(shape{equal: []string{"[].id", "[].status", "[].bundle", "#"}})}, "list", "--format", "json")
		s.run("list", "-q")
		// The state directory holds one entry per container, by ID.
		s.note("entries in --root", strings.Join(dirNames(s.root), " "))
	})
}

func dirNames(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

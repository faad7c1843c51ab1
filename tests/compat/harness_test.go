package compat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-runtime/strata/tests/cgroupfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// defaultTimeout bounds every command: runc answers each of these in well
// under a second, so a command still running after it has hung.
const defaultTimeout = 20 * time.Second

// markerEnv marks every runtime command with a container ID, so that
// testutil's leak guard finds the runtime's helper processes.
const markerEnv = "STRATA_TEST_ID"

// result is what one command did.
type result struct {
	code     int // exit status; -1 when killed or timed out
	stdout   string
	stderr   string
	timedOut bool
}

func (r result) String() string {
	if r.timedOut {
		return "TIMED OUT (hung)"
	}
	return fmt.Sprintf("exit %d, stdout %s, stderr %s", r.code, quote(r.stdout), quote(r.stderr))
}

func quote(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// expect says how one command line's results are compared. The zero value
// compares exit status, stdout exactly and whether stderr is empty.
type expect struct {
	// out compares the normalised stdouts (nil: exactly). It returns what
	// differs.
	out func(ref, got string) []string
	// check must hold for both runtimes' results: it makes each case
	// assert something of its own, and proves itself against runc.
	check func(r result) error
	// deliberate says why strata may differ here (listed in docs/compat.md);
	// strata, if set, is what strata must do instead.
	deliberate string
	strata     func(r result) error

	stdin   string
	dir     string // working directory; default the session's
	noRoot  bool   // do not prepend --root (the case passes its own)
	timeout time.Duration
}

// step is one command line (or observation) of a session, recorded for the
// comparison.
type step struct {
	line string // normalised: placeholders for IDs and paths
	note bool   // an observation (a file's content...), not a command
	res  result // normalised, for comparison
	raw  result // as it was, for the case's checks
	exp  expect
}

// session is one runtime's run of a test body.
type session struct {
	t    *testing.T
	rt   *runtime
	dir  string // private temp dir: bundles, root, pid files
	root string
	// idPrefix makes IDs unique on the machine (test, pid, compare call);
	// the IDs of one session sort in the order they were made, in both
	// runtimes alike, so listings compare row by row.
	idPrefix string

	mu     sync.Mutex
	steps  []step
	ids    []string
	subst  []string // old, new pairs for strings.NewReplacer
	guards []*tu.Guard
}

// compare runs body once per runtime, reference first, then compares their
// steps one by one: each step of runc's run with the step of strata's that
// has the same normalised line and occurrence.
func compare(t *testing.T, body func(s *session)) {
	t.Helper()
	var sess [2]*session
	seq := compareSeq.Add(1)
	for i, rt := range runtimes {
		sess[i] = newSession(t, rt, seq)
		body(sess[i])
	}
	diffSessions(t, sess[0], sess[1])
}

// compareSeq numbers the compare calls of this process, for IDs.
var compareSeq atomic.Int64

var notIDChar = regexp.MustCompile(`[^a-z0-9]+`)

func newSession(t *testing.T, rt *runtime, seq int64) *session {
	dir := t.TempDir()
	// Containers with a user namespace must reach their rootfs below it.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := strings.Trim(notIDChar.ReplaceAllString(strings.ToLower(strings.TrimPrefix(t.Name(), "Test")), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	s := &session{t: t, rt: rt, dir: dir, root: filepath.Join(dir, "root"),
		idPrefix: fmt.Sprintf("%s-%d-%d-%s", name, os.Getpid(), seq, rt.name)}
	s.subst = []string{s.root, "$ROOT", dir, "$TMP"}
	t.Cleanup(s.cleanup)
	return s
}

// newID returns a container ID of this session, unique on the machine, and
// makes outputs show it as $ID, $ID2, ...
func (s *session) newID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("%s-%02d", s.idPrefix, len(s.ids)+1)
	s.ids = append(s.ids, id)
	name := "$ID"
	if n := len(s.ids); n > 1 {
		name = fmt.Sprintf("$ID%d", n)
	}
	// Longest first, so that $ID1 never eats the start of $ID12's ID.
	s.subst = append([]string{id, name}, s.subst...)
	s.guards = append(s.guards, tu.NewGuard(id, s.root, s.dir))
	return id
}

// nosuch is an ID no container has.
func (s *session) nosuch() string {
	id := s.newID()
	s.mu.Lock()
	s.subst[1] = "$NOSUCH" // newID put this ID's pair first
	s.mu.Unlock()
	return id
}

var runtimeName = regexp.MustCompile(`\b(runc|strata)\b`)

// normalise replaces this session's IDs and paths, and the runtime's own
// name, by placeholders.
func (s *session) normalise(text string) string {
	s.mu.Lock()
	r := strings.NewReplacer(s.subst...)
	s.mu.Unlock()
	return runtimeName.ReplaceAllString(r.Replace(text), "$$RT")
}

// run runs the runtime with args (after --root) and records the step with
// the default comparison.
func (s *session) run(args ...string) result { return s.runx(expect{}, args...) }

// runx is run with a comparison of the case's own.
func (s *session) runx(exp expect, args ...string) result {
	s.t.Helper()
	full := args
	if !exp.noRoot {
		full = append([]string{"--root", s.root}, args...)
	}
	res := s.exec(exp, full)
	norm := res
	norm.stdout, norm.stderr = s.normalise(res.stdout), s.normalise(res.stderr)
	s.record(step{line: s.normalise(strings.Join(args, " ")), res: norm, raw: res, exp: exp})
	return res
}

// note records an observation, compared exactly after normalisation.
func (s *session) note(label, value string) { s.noteWith(expect{}, label, value) }

// noteWith records an observation compared as exp.out says.
func (s *session) noteWith(exp expect, label, value string) {
	s.record(step{line: label, note: true, res: result{stdout: s.normalise(value)}, raw: result{stdout: value}, exp: exp})
}

func (s *session) record(st step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, st)
}

// raw runs a command that is not compared (polling for a status).
func (s *session) raw(args ...string) result {
	return s.exec(expect{}, append([]string{"--root", s.root}, args...))
}

// exec runs the runtime with stdout and stderr in files, not pipes: a
// detached container inherits them and would keep a pipe open past the
// runtime's exit.
func (s *session) exec(exp expect, args []string) result {
	cmd := exec.Command(s.rt.path, args...)
	cmd.Dir = s.dir
	if exp.dir != "" {
		cmd.Dir = exp.dir
	}
	cmd.Env = append(os.Environ(), markerEnv+"="+s.markerFor(args))
	if exp.stdin != "" {
		cmd.Stdin = strings.NewReader(exp.stdin)
	}
	timeout := exp.timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	res := result{code: -1}
	outF, err1 := os.CreateTemp(s.dir, "stdout-")
	errF, err2 := os.CreateTemp(s.dir, "stderr-")
	// Errorf, not Fatal: commands also run from goroutines.
	if err := errors.Join(err1, err2); err != nil {
		s.t.Errorf("%s: %v", s.rt.name, err)
		return res
	}
	defer os.Remove(outF.Name())
	defer os.Remove(errF.Name())
	defer outF.Close()
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	if err := cmd.Start(); err != nil {
		s.t.Errorf("%s: %v", s.rt.name, err)
		return res
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(timeout):
		res.timedOut = true
		// SIGQUIT first: both runtimes are Go and print their stacks.
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case werr = <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			werr = <-done
		}
	}
	var exitErr *exec.ExitError
	switch {
	case werr == nil:
		res.code = 0
	case errors.As(werr, &exitErr):
		res.code = exitErr.ExitCode()
	}
	out, _ := os.ReadFile(outF.Name())
	errOut, _ := os.ReadFile(errF.Name())
	res.stdout, res.stderr = string(out), string(bytes.TrimSpace(errOut))
	return res
}

// markerFor is the first of this session's IDs the command names.
func (s *session) markerFor(args []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range args {
		for _, id := range s.ids {
			if a == id {
				return id
			}
		}
	}
	return "compat-" + s.rt.name
}

// cleanup removes every container of the session (in reverse order), their
// cgroups, and reports what the runtime left behind.
func (s *session) cleanup() {
	for i := len(s.ids) - 1; i >= 0; i-- {
		id := s.ids[i]
		if _, err := os.Stat(filepath.Join(s.root, id)); err == nil {
			s.raw("delete", "--force", id)
		}
		for _, h := range cgroupfs.Hierarchies() {
			for _, left := range cgroupfs.RemoveTree(filepath.Join(h, tu.CgroupParent, id)) {
				s.t.Errorf("%s: cgroup %s", s.rt.name, left)
			}
		}
	}
	for _, g := range s.guards {
		g.Check(s.t)
	}
}

// diffSessions pairs the steps of the two sessions and reports each
// difference with both results.
func diffSessions(t *testing.T, ref, got *session) {
	t.Helper()
	key := func(line string, seen map[string]int) string {
		seen[line]++
		return fmt.Sprintf("%s#%d", line, seen[line])
	}
	gotSteps := map[string]step{}
	seen := map[string]int{}
	for _, st := range got.steps {
		gotSteps[key(st.line, seen)] = st
	}
	seen = map[string]int{}
	paired := map[string]bool{}
	for _, r := range ref.steps {
		k := key(r.line, seen)
		g, ok := gotSteps[k]
		paired[k] = true
		count(r.note)
		if !ok {
			report(t, r, fmt.Sprintf("%s ran it, %s did not (the test body diverged)", ref.rt.name, got.rt.name), "")
			continue
		}
		if r.exp.check != nil {
			if err := r.exp.check(r.raw); err != nil {
				t.Errorf("compat: the case's own check fails for %s (the test is wrong): `%s`: %v\n  %s", ref.rt.name, r.line, err, r.res)
			}
		}
		diffs := diffResults(r, g)
		if r.exp.check != nil {
			if err := r.exp.check(g.raw); err != nil {
				diffs = append(diffs, fmt.Sprintf("%s fails the case's check: %v", got.rt.name, err))
			}
		}
		if r.exp.deliberate != "" {
			if len(diffs) > 0 {
				tally.Lock()
				tally.deliberate++
				tally.Unlock()
				t.Logf("compat: deliberate difference in `%s` (%s): %s", r.line, r.exp.deliberate, strings.Join(diffs, "; "))
			}
			if r.exp.strata != nil {
				if err := r.exp.strata(g.raw); err != nil {
					report(t, r, fmt.Sprintf("the deliberate behaviour (%s) is missing: %v", r.exp.deliberate, err), g.res.String())
				}
			}
			continue
		}
		if len(diffs) > 0 {
			report(t, r, strings.Join(diffs, "\n    "), fmt.Sprintf("%s: %s\n  %s: %s", ref.rt.name, r.res, got.rt.name, g.res))
		}
	}
	seen = map[string]int{}
	for _, st := range got.steps {
		if k := key(st.line, seen); !paired[k] {
			report(t, st, fmt.Sprintf("%s ran it, %s did not (the test body diverged)", got.rt.name, ref.rt.name), "")
		}
	}
}

func count(note bool) {
	tally.Lock()
	defer tally.Unlock()
	if note {
		tally.notes++
	} else {
		tally.lines++
	}
}

func report(t *testing.T, st step, what, both string) {
	t.Helper()
	kind := "command line"
	if st.note {
		kind = "observation"
	}
	tally.Lock()
	tally.diffs = append(tally.diffs, fmt.Sprintf("%s: `%s`", t.Name(), st.line))
	tally.Unlock()
	t.Errorf("compat: %s `%s` differs:\n    %s\n  %s", kind, st.line, what, both)
}

// diffResults lists how got's result differs from the reference's.
func diffResults(ref, got step) []string {
	var diffs []string
	r, g := ref.res, got.res
	if r.timedOut || g.timedOut {
		if r.timedOut != g.timedOut {
			return []string{fmt.Sprintf("hang: runc timed out %v, strata timed out %v", r.timedOut, g.timedOut)}
		}
		return nil
	}
	if r.code != g.code {
		diffs = append(diffs, fmt.Sprintf("exit status: %d, want %d", g.code, r.code))
	}
	cmp := ref.exp.out
	if cmp == nil {
		cmp = exactly
	}
	for _, d := range cmp(r.stdout, g.stdout) {
		diffs = append(diffs, "stdout: "+d)
	}
	if !ref.note && (r.stderr == "") != (g.stderr == "") {
		diffs = append(diffs, fmt.Sprintf("stderr: %s, want %s", emptiness(g.stderr), emptiness(r.stderr)))
	}
	return diffs
}

func emptiness(s string) string {
	if s == "" {
		return "empty"
	}
	return "non-empty"
}

// exactly is the default comparison of stdouts (both normalised).
func exactly(ref, got string) []string {
	if ref == got {
		return nil
	}
	return []string{fmt.Sprintf("%s, want %s", quote(got), quote(ref))}
}

// sortedKeys is for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

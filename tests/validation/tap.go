package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// tapResult is what one test executable printed on stdout, in TAP 13 as
// github.com/mndrix/tap-go writes it.
type tapResult struct {
	OK, NotOK, Skip int
	// Planned sums the "1..N" plans (a test may print several TAP streams,
	// one per sub-test); -1 if none was printed.
	Planned int
	// Silent: no TAP at all. The *_fail tests that expect the runtime to
	// refuse a config (process_rlimits_fail...) report only through their
	// exit status: 0 and no output is their pass.
	Silent     bool
	NotOKLines []string // descriptions of the failed test points
	// OrphanErrors are YAML diagnostics with an "error" key that follow no
	// test point. The hook tests (prestart, poststop, hooks, *_fail...) report
	// a failure only that way, followed by the plan "1..0"; node-tap would call
	// that a skip. It is a failure.
	OrphanErrors []string
}

var (
	testPoint = regexp.MustCompile(`^(not )?ok\b(?:\s+\d+)?\s*(?:-\s*)?(.*)$`)
	plan      = regexp.MustCompile(`^1\.\.(\d+)`)
	directive = regexp.MustCompile(`(?i)#\s*(SKIP|TODO)\b`)
)

// parseTAP reads a TAP stream. It never fails: whatever is not TAP (a Go
// panic, a runtime's message) is ignored here and judged by the exit status.
func parseTAP(r io.Reader) tapResult {
	res := tapResult{Planned: -1, Silent: true}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	afterTestPoint := false // the previous line was a test point
	inYAML, attached := false, false
	var block []string
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if inYAML {
			if trimmed == "..." {
				inYAML = false
				if e, ok := diagnosticError(block); ok && !attached {
					res.OrphanErrors = append(res.OrphanErrors, e)
				}
			} else {
				block = append(block, line)
			}
			continue
		}
		if trimmed == "---" && strings.HasPrefix(line, " ") {
			inYAML, attached, block = true, afterTestPoint, nil
			continue
		}
		// A test point's description may span lines (the suite's ends with
		// "\nRefer to: URL"); its diagnostic follows the last of them.
		if afterTestPoint && trimmed != "" && !isTAPLine(trimmed) {
			continue
		}
		afterTestPoint = false
		if strings.HasPrefix(trimmed, "TAP version") {
			res.Silent = false
		}
		if m := plan.FindStringSubmatch(trimmed); m != nil && line == trimmed {
			n, _ := strconv.Atoi(m[1])
			res.Planned = max(res.Planned, 0) + n
			res.Silent = false
			continue
		}
		m := testPoint.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		afterTestPoint, res.Silent = true, false
		switch d := directive.FindStringSubmatch(m[2]); {
		case d != nil:
			// "ok N # SKIP" is a skip; a TODO test point does not count
			// either way (TAP 13), so it goes with the skips too.
			res.Skip++
		case m[1] == "":
			res.OK++
		default:
			res.NotOK++
			res.NotOKLines = append(res.NotOKLines, m[2])
		}
	}
	return res
}

// isTAPLine tells a line TAP gives a meaning to from free text.
func isTAPLine(l string) bool {
	for _, p := range []string{"ok", "not ok", "#", "TAP version", "Bail out!"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return plan.MatchString(l)
}

// diagnosticError returns the "error" entry of a diagnostic block. tap-go
// writes the block as JSON unless built with its yaml tag (the suite is not),
// so JSON is tried first, then YAML's top-level "error:" key.
func diagnosticError(block []string) (string, bool) {
	var m map[string]any
	if json.Unmarshal([]byte(strings.Join(block, "\n")), &m) == nil {
		e, ok := m["error"]
		return fmt.Sprint(e), ok
	}
	if len(block) == 0 {
		return "", false
	}
	indent := block[0][:len(block[0])-len(strings.TrimLeft(block[0], " "))]
	for i, line := range block {
		v, ok := strings.CutPrefix(line, indent+"error:")
		if !ok {
			continue
		}
		text := []string{strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(v), "|-"))}
		// The value may go on in deeper-indented lines.
		for _, more := range block[i+1:] {
			if !strings.HasPrefix(more, indent+" ") {
				break
			}
			text = append(text, strings.TrimSpace(more))
		}
		return strings.TrimSpace(strings.Join(text, "\n")), true
	}
	return "", false
}

// verdict says whether a test executable passed: it exited 0 in time, ran at
// least one test point that was not skipped, failed none, printed no orphan
// error diagnostic, and ran as many test points as its plan announced (a
// crash midway leaves the plan unfulfilled). why is empty for a pass.
func (r tapResult) verdict(exit int, timedOut bool) (pass bool, why string) {
	var reasons []string
	if timedOut {
		reasons = append(reasons, "timed out")
	} else if exit != 0 {
		reasons = append(reasons, "exit status "+strconv.Itoa(exit))
	}
	if r.Silent && exit != 0 && !timedOut {
		return false, "exit status " + strconv.Itoa(exit) + ", no TAP"
	}
	if r.NotOK > 0 {
		reasons = append(reasons, strconv.Itoa(r.NotOK)+" not ok")
	}
	if len(r.OrphanErrors) > 0 {
		reasons = append(reasons, "error diagnostic")
	}
	// The hook tests print no test point at all when they pass, only the
	// plan "1..0"; without that plan, an empty stream is a failure.
	if r.OK == 0 && r.NotOK == 0 && len(r.OrphanErrors) == 0 {
		if r.Skip > 0 {
			reasons = append(reasons, "all skipped")
		} else if r.Planned != 0 && !r.Silent {
			reasons = append(reasons, "no test point")
		}
	}
	if ran := r.OK + r.NotOK + r.Skip; r.Planned >= 0 && ran != r.Planned && len(r.OrphanErrors) == 0 {
		reasons = append(reasons, "plan "+strconv.Itoa(r.Planned)+", ran "+strconv.Itoa(ran))
	}
	return len(reasons) == 0, strings.Join(reasons, ", ")
}

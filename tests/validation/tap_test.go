package main

import (
	"strings"
	"testing"
)

// The streams below are shaped like what the suite's executables print.
func TestVerdict(t *testing.T) {
	cases := []struct {
		name, tap string
		exit      int
		pass      bool
		why       string
	}{
		{"all ok", "TAP version 13\nok 1 - a\nok 2 - b\n1..2\n", 0, true, ""},
		{"a not ok with its diagnostic", "TAP version 13\nok 1 - a\nnot ok 2 - b\n  ---\n  error: boom\n  reference: x\n  ...\n1..2\n", 0, false, "1 not ok"},
		// An "error" diagnostic after an ok test point belongs to that test
		// point (the suite's SpecErrorOK prints the error it expected).
		{"expected error", "TAP version 13\nok 1 - must fail\n  ---\n  error: exit status 1\n  ...\n1..1\n", 0, true, ""},
		{"multi-line description", "TAP version 13\nok 1 - state MUST fail\nRefer to: https://x\n  ---\n  {\n    \"error\": \"exit status 1\"\n  }\n  ...\n1..1\n", 0, true, ""},
		// The hook tests: no test point, an error diagnostic, "1..0".
		{"hook failure", "TAP version 13\n  ---\n  error: |\n    prestart hook not run\n    second line\n  ...\n1..0\n", 0, false, "error diagnostic"},
		{"hook success", "TAP version 13\n1..0\n", 0, true, ""},
		// tap-go as the suite builds it writes diagnostics as JSON.
		{"hook failure, JSON", "TAP version 13\n  ---\n  {\n    \"error\": \"hook not run\"\n  }\n  ...\n1..0\n", 0, false, "error diagnostic"},
		{"skipped", "TAP version 13\n1..1\nok 1 # SKIP no cgroup v2\n", 0, false, "all skipped"},
		{"crash midway", "TAP version 13\n1..3\nok 1 - a\n", 2, false, "exit status 2, plan 3, ran 1"},
		{"silent failure", "", 1, false, "exit status 1, no TAP"},
		{"silent success (*_fail tests)", "", 0, true, ""},
		{"two streams", "TAP version 13\nok 1 - a\n1..1\nTAP version 13\n1..0\n", 0, true, ""},
		{"no plan, no test point", "TAP version 13\n", 0, false, "no test point"},
		{"ok but exit 1", "TAP version 13\nok 1 - a\n1..1\n", 1, false, "exit status 1"},
	}
	for _, c := range cases {
		r := parseTAP(strings.NewReader(c.tap))
		pass, why := r.verdict(c.exit, false)
		if pass != c.pass || why != c.why {
			t.Errorf("%s: verdict (%v, %q), want (%v, %q); parsed %+v", c.name, pass, why, c.pass, c.why, r)
		}
	}
}

func TestOrphanErrorText(t *testing.T) {
	r := parseTAP(strings.NewReader("TAP version 13\n  ---\n  error: |\n    prestart hook not run\n  stderr: x\n  ...\n1..0\n"))
	if len(r.OrphanErrors) != 1 || !strings.Contains(r.OrphanErrors[0], "prestart hook not run") || strings.Contains(r.OrphanErrors[0], "stderr") {
		t.Fatalf("orphan errors %q", r.OrphanErrors)
	}
}

func TestCounts(t *testing.T) {
	r := parseTAP(strings.NewReader("TAP version 13\nok 1 - a\nnot ok 2 - b\nok 3 # skip c\nnot ok 4 # TODO d\n1..4\n"))
	if r.OK != 1 || r.NotOK != 1 || r.Skip != 2 || r.Planned != 4 || len(r.NotOKLines) != 1 || r.NotOKLines[0] != "b" {
		t.Fatalf("parsed %+v", r)
	}
}

//go:build cri

package cri

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// critestSlice is the cgroup parent critest gives its pods when the runtime
// does not answer the RuntimeConfig call (containerd 1.6 does not), so with
// the cgroupfs driver its containers land in /test.slice/<id>: reserved for
// the run, removed after it.
const critestSlice = "/test.slice"

// TestCritest runs cri-tools' validation suite against the strata handler
// and the runc handler of one containerd, one after the other, and fails
// for every test that passes with runc and fails with strata. It writes
// each handler's JUnit report, log and the side-by-side counts into
// $CRITEST_OUT (default the tools directory).
// Run by `make critest`: it takes minutes, so it is not part of `make cri`.
func TestCritest(t *testing.T) {
	if _, err := os.Stat(critestPath()); err != nil {
		t.Fatalf("critest: %v (`make critest` builds it)", err)
	}
	cgroupTree(t, critestSlice)
	e := startCRI(t, tu.StrataPath())
	pushCritestImages(t, e.dir, e.registry)
	out := os.Getenv("CRITEST_OUT")
	if out == "" {
		out = toolsDir()
	}
	results := map[string]map[string]string{}
	for _, name := range []string{"strata", "runc"} {
		results[name] = e.critest(t, e.handlers[name], out)
	}
	report := critestReport(results["strata"], results["runc"])
	t.Log("\n" + report)
	if err := os.WriteFile(filepath.Join(out, "critest-results.txt"), []byte(report), 0o644); err != nil {
		t.Error(err)
	}
	for name, st := range results["runc"] {
		if st == "passed" && results["strata"][name] != "passed" {
			t.Errorf("passes with runc, %s with strata: %s", results["strata"][name], name)
		}
	}
}

// critest runs the suite with the handler and returns each spec's state
// (passed, failed, skipped, ...) by name, from ginkgo's JUnit report.
func (e *criEnv) critest(t *testing.T, h handler, out string) map[string]string {
	t.Helper()
	junit := filepath.Join(out, "critest-"+h.name+".xml")
	logPath := filepath.Join(out, "critest-"+h.name+".log")
	os.Remove(junit) // a report from an earlier run must not stand for this one
	logF, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logF.Close()
	cmd := e.ns.command(critestPath(), "-runtime-endpoint", "unix://"+e.sock, "-image-endpoint", "unix://"+e.sock,
		"-runtime-handler", h.name, "-config", e.crictlCfg, "-ginkgo.junit-report", junit, "-ginkgo.no-color",
		"-ginkgo.timeout", "40m")
	cmd.Stdout, cmd.Stderr = logF, logF
	start := time.Now()
	runErr := cmd.Run() // non-zero whenever a spec fails; the report says which
	t.Logf("critest with %s: %v in %v (log %s)", h.name, runErr, time.Since(start).Round(time.Second), logPath)
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatalf("critest with %s wrote no report (%v):\n%s", h.name, err, readLog(logPath))
	}
	var rep struct {
		Suites []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Status  string `xml:"status,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &rep); err != nil {
		t.Fatalf("critest's report %s: %v", junit, err)
	}
	states := map[string]string{}
	for _, s := range rep.Suites {
		for _, c := range s.Cases {
			// Specs only: ginkgo reports its suite nodes
			// ([BeforeSuite] and the like) as test cases too.
			if !strings.HasPrefix(c.Name, "[It]") {
				continue
			}
			states[c.Name] = c.Status
			if c.Failure != nil && h.name == "strata" {
				t.Logf("strata fails %s: %s", c.Name, firstLine(c.Failure.Message))
			}
		}
	}
	if len(states) == 0 {
		t.Fatalf("critest with %s ran no spec:\n%s", h.name, readLog(logPath))
	}
	return states
}

// critestReport counts each handler's states and lists, side by side, the
// specs whose state differs or that failed.
func critestReport(strata, runc map[string]string) string {
	var b strings.Builder
	for _, r := range []struct {
		name string
		st   map[string]string
	}{{"strata", strata}, {"runc", runc}} {
		count := map[string]int{}
		for _, s := range r.st {
			count[s]++
		}
		fmt.Fprintf(&b, "%s: %d passed, %d failed, %d skipped (%d specs)\n", r.name, count["passed"], count["failed"], count["skipped"], len(r.st))
	}
	var names []string
	for n := range runc {
		names = append(names, n)
	}
	for n := range strata {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	b.WriteString("\nspecs not passed by both (strata / runc):\n")
	for _, n := range names {
		if strata[n] != "passed" || runc[n] != "passed" {
			if strata[n] != "skipped" || runc[n] != "skipped" {
				fmt.Fprintf(&b, "  %-8s %-8s %s\n", strata[n], runc[n], n)
			}
		}
	}
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

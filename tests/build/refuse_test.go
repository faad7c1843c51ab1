package build_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestBadInputsLeaveNothing runs builds that must fail, each once into a
// store that does not exist yet (which must still not exist after) and once
// into a store an earlier build filled (which must be as it was: no layer,
// blob, cache entry or bundle added). The error names the Containerfile's
// line and what was wrong; no bundle, mount, container state or output is
// left behind.
func TestBadInputsLeaveNothing(t *testing.T) {
	work := workDir(t)
	base := baseImage(t)
	from := fmt.Sprintf("FROM oci:%s:base\n", base)
	cases := []struct {
		name, file string
		want       []string
	}{
		{"syntax error", from + "ENV A=1\nRUNN echo hi\n", []string{"Containerfile:3:", `unknown instruction "RUNN"`}},
		{"failing RUN", from + "ENV A=1\nRUN echo before > /f && exit 7\n", []string{"Containerfile:3:", "RUN echo before > /f && exit 7", "exited with status 7"}},
		{"missing COPY source", from + "RUN touch /x\nCOPY nothere.txt /\n", []string{"Containerfile:3:", "COPY nothere.txt /", `source "nothere.txt": no such file or directory in the build context`}},
		{"unknown stage", from + "AS one\nFROM scratch\nCOPY --from=two /a /b\n", []string{"Containerfile:3:", `unknown stage "two"`, "one"}},
		{"unknown base", "FROM oci:" + filepath.Join(work, "nolayout") + ":x\n", []string{"Containerfile:1:", "nolayout"}},
	}
	// The unknown-stage case names its stage on the FROM line.
	cases[3].file = strings.Replace(cases[3].file, "base\nAS one", "base AS one", 1)

	filled := filepath.Join(work, "filled")
	good := filepath.Join(work, "good")
	writeFiles(t, good, map[string]string{"Containerfile": from + "RUN echo ok > /ok\n"}, nil)
	mustStrata(t, work, "build", "--store", filled, "--cgroup-parent", cgroupParent(t), "-t", "oci:"+filepath.Join(work, "good-out")+":v1", good)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := filepath.Join(t.TempDir(), "context")
			writeFiles(t, ctx, map[string]string{"Containerfile": c.file}, nil)
			tmp := t.TempDir()
			fresh := filepath.Join(t.TempDir(), "store")
			before := listing(t, filled)
			for _, store := range []string{fresh, filled} {
				out := filepath.Join(t.TempDir(), "out")
				r := strataIn(tmp, "build", "--store", store, "--cgroup-parent", cgroupParent(t), "-t", "oci:"+out+":v1", ctx)
				if r.err == nil {
					t.Fatalf("build into %s succeeded:\n%s", store, r.stderr)
				}
				last := strings.TrimSpace(r.stderr)
				last = last[strings.LastIndex(last, "\n")+1:]
				for _, w := range c.want {
					if !strings.Contains(last, w) {
						t.Errorf("error %q lacks %q", last, w)
					}
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("the failed build made its output %s", out)
				}
				entries, _ := os.ReadDir(tmp)
				for _, e := range entries {
					t.Errorf("left in TMPDIR: %s (bundle or container state)", e.Name())
				}
				assertNoMountsUnder(t, tmp)
				assertNoMountsUnder(t, store)
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Errorf("the failed build left a store at %s: %v", fresh, listing(t, fresh))
			}
			if after := listing(t, filled); !slices.Equal(before, after) {
				t.Errorf("the failed build changed the store %s:\nbefore %v\nafter  %v", filled, before, after)
			}
		})
	}
}

// TestPushUnreachableLeavesNothing: a build whose -t registry cannot be
// reached fails naming it, and takes back everything it built.
func TestPushUnreachableLeavesNothing(t *testing.T) {
	work := workDir(t)
	ctx := filepath.Join(work, "context")
	writeFiles(t, ctx, map[string]string{"Containerfile": fmt.Sprintf("FROM oci:%s:base\nRUN touch /x\n", baseImage(t))}, nil)
	store := filepath.Join(work, "store")
	// The build's own TMPDIR (its bundles and container state), apart
	// from the context, so that what it leaves there shows.
	tmp := t.TempDir()
	// Port 1 of loopback: nothing listens there.
	r := strataIn(tmp, "build", "--store", store, "--cgroup-parent", cgroupParent(t), "-t", "docker://127.0.0.1:1/x:1", ctx)
	if r.err == nil || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Fatalf("build -t docker://127.0.0.1:1/x:1: want a failure naming the registry, got %v: %s", r.err, r.stderr)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("the failed build left the store %s: %v", store, listing(t, store))
	}
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		t.Errorf("left in TMPDIR: %s", e.Name())
	}
	assertNoMountsUnder(t, tmp)
}

// TestInterruptedBuildLeavesNothing sends SIGINT to a build while its RUN
// step runs: the container is stopped, the build fails naming the signal,
// and nothing is left (no store, bundle, mount, container, process).
func TestInterruptedBuildLeavesNothing(t *testing.T) {
	work := workDir(t)
	ctx := filepath.Join(work, "context")
	writeFiles(t, ctx, map[string]string{"Containerfile": fmt.Sprintf("FROM oci:%s:base\nRUN echo run-$((1+1)); sleep 60; echo end-$((2+2))\n", baseImage(t))}, nil)
	tmp := t.TempDir()
	store := filepath.Join(work, "store")
	errFile := filepath.Join(work, "stderr")
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parent := cgroupParent(t)
	cmd := exec.Command(tu.StrataPath(), "build", "--store", store, "--cgroup-parent", parent, "-t", "oci:"+filepath.Join(work, "out")+":v1", ctx)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(errFile)
		// The step's output, not its STEP line, which has $((1+1)).
		if strings.Contains(string(data), "run-2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the RUN step did not start in 20 s:\n%s", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	data, _ := os.ReadFile(errFile)
	if err == nil || !strings.Contains(string(data), "Containerfile:2:") || !strings.Contains(string(data), "interrupted by interrupt") {
		t.Fatalf("interrupted build: %v\n%s", err, data)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the build took %v to stop after SIGINT", took)
	}
	if strings.Contains(string(data), "end-4") {
		t.Error("the RUN step ran to its end")
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("the interrupted build left a store: %v", listing(t, store))
	}
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		t.Errorf("left in TMPDIR: %s", e.Name())
	}
	assertNoMountsUnder(t, tmp)
	// The RUN container's cgroup is below parent (--cgroup-parent): no
	// process may be left in it.
	for _, pid := range processesBelow(t, parent) {
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		t.Errorf("process %s (%q) is still in the build's cgroup %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), parent)
	}
}

// processesBelow lists the pids whose cgroup (in any hierarchy) is parent
// or below it.
func processesBelow(t *testing.T, parent string) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // the process is gone
		}
		for _, line := range strings.Split(string(data), "\n") {
			// hierarchy-ID:controllers:path
			if i := strings.LastIndex(line, ":"); i >= 0 {
				if p := line[i+1:]; p == parent || strings.HasPrefix(p, parent+"/") {
					pids = append(pids, filepath.Base(filepath.Dir(f)))
					break
				}
			}
		}
	}
	return pids
}

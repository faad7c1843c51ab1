package build_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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

// TestPushTargetRefused: a registry target is refused by name, before the
// build runs, until strata can push.
func TestPushTargetRefused(t *testing.T) {
	work := workDir(t)
	ctx := filepath.Join(work, "context")
	writeFiles(t, ctx, map[string]string{"Containerfile": "FROM scratch\n"}, nil)
	store := filepath.Join(work, "store")
	r := strataIn(work, "build", "--store", store, "-t", "docker://127.0.0.1:5000/x:1", ctx)
	if r.err == nil || !strings.Contains(r.stderr, "-t docker://127.0.0.1:5000/x:1") {
		t.Fatalf("build -t docker://: want a refusal naming -t, got %v: %s", r.err, r.stderr)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("the refused build made the store %s", store)
	}
}

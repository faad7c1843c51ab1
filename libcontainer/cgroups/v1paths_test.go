package cgroups

import (
	"maps"
	"testing"

	cg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Paths gives, for an absolute cgroupsPath, the directories the library's
// cgroupfs manager finds by itself on this host; on a cgroup v2 host, and
// for what only the library can answer, it gives nil. Reads mountinfo and
// makes nothing: no root needed.
func TestV1PathsAsLibrary(t *testing.T) {
	spec := func(path string) *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{CgroupsPath: path}}
	}
	abs, err := Config("v1paths", spec("/strata-unit/v1paths"), Cgroupfs)
	if err != nil {
		t.Fatal(err)
	}
	got := v1Paths(abs)
	if cg.IsCgroup2UnifiedMode() {
		if got != nil {
			t.Fatalf("cgroup v2 host: v1Paths = %v, want nil (the library's v2 manager finds its one path)", got)
		}
		return
	}
	lib, err := fs.NewManager(abs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := lib.GetPaths(); !maps.Equal(got, want) {
		t.Fatalf("v1Paths = %v\nthe library finds %v", got, want)
	}

	rel, err := Config("v1paths", spec("strata-unit/v1paths"), Cgroupfs)
	if err != nil {
		t.Fatal(err)
	}
	if p := v1Paths(rel); p != nil {
		t.Errorf("relative cgroupsPath: v1Paths = %v, want nil (below the caller's cgroups: the library's to find)", p)
	}
	byName, err := Config("v1paths", nil, Cgroupfs)
	if err != nil {
		t.Fatal(err)
	}
	if p := v1Paths(byName); p != nil {
		t.Errorf("no cgroupsPath: v1Paths = %v, want nil", p)
	}
}

package cgroups

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSystemdCgroupsPath(t *testing.T) {
	for path, want := range map[string][3]string{
		"":                                {"system.slice", "strata", "ctr"},
		"system.slice:strata:t1":          {"system.slice", "strata", "t1"},
		":docker:abc":                     {"system.slice", "docker", "abc"},
		"kubepods-besteffort.slice:cri:x": {"kubepods-besteffort.slice", "cri", "x"},
	} {
		c, err := Config("ctr", &specs.Spec{Linux: &specs.Linux{CgroupsPath: path}}, Systemd)
		if err != nil {
			t.Fatalf("%q: %v", path, err)
		}
		got := [3]string{c.Parent, c.ScopePrefix, c.Name}
		if got != want || !c.Systemd {
			t.Errorf("cgroupsPath %q: slice, prefix, name %q (systemd %v), want %q", path, got, c.Systemd, want)
		}
	}
	if c, _ := Config("ctr", &specs.Spec{Linux: &specs.Linux{CgroupsPath: "system.slice:strata:t1"}}, Systemd); scopeName(c) != "strata-t1.scope" {
		t.Errorf("scope %q, want strata-t1.scope", scopeName(c))
	}
}

func TestSystemdCgroupsPathRefused(t *testing.T) {
	for path, want := range map[string]string{
		"/strata/t1":                  "expected \"slice:prefix:name\"",
		"system.slice:strata":         "expected \"slice:prefix:name\"",
		"a:b:c:d":                     "expected \"slice:prefix:name\"",
		"system:strata:t1":            `slice "system": expected a systemd slice name`,
		"a--b.slice:strata:t1":        `slice "a--b.slice"`,
		"a/b.slice:strata:t1":         `slice "a/b.slice"`,
		"system.slice::t1":            `prefix "": is empty`,
		"system.slice:strata:":        `name "": is empty`,
		"system.slice:st ra:t1":       `prefix "st ra": character ' '`,
		"system.slice:strata:x@y":     `name "x@y": character '@'`,
		"system.slice:strata:p.slice": `expected a name not ending in .slice`,
		"system.slice:strata:" + strings.Repeat("x", 250): "systemd takes at most 255",
	} {
		_, err := Config("ctr", &specs.Spec{Linux: &specs.Linux{CgroupsPath: path}}, Systemd)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "linux.cgroupsPath ") {
			t.Errorf("cgroupsPath %q: %v, want a refusal naming linux.cgroupsPath and %q", path, err, want)
		}
	}
	// An empty cgroupsPath makes the ID part of the unit name; '+' is a
	// legal ID character but not a unit name one.
	_, err := Config("a+b", &specs.Spec{Linux: &specs.Linux{}}, Systemd)
	if err == nil || !strings.Contains(err.Error(), `linux.cgroupsPath "" (system.slice:strata:a+b by default): name "a+b"`) {
		t.Errorf("ID a+b with an empty cgroupsPath: %v", err)
	}
}

package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// specShape compares config.json files written by `spec`: the same keys
// and types, and the values a script editing the starter file relies on
// (`sed -i 's;"sh";"/hello";'`, jq on .process.terminal). Which
// namespaces and mounts a starter spec has is the runtime's choice.
var specShape = expect{out: asJSON(shape{equal: []string{
	".root.path", ".root.readonly", ".process.terminal", ".process.args", ".process.cwd", ".process.user",
	".process.env", ".hostname", ".linux.uidMappings", ".linux.gidMappings",
}}),
	deliberate: "strata's starter config lists no ambient capabilities: runc's lists three without the inheritable ones they need, so they cannot be raised",
	strata: func(r result) error {
		if strings.Contains(r.stdout, `"ambient"`) {
			return fmt.Errorf("the starter config lists ambient capabilities")
		}
		return nil
	},
}

// readFile is a file's content, or "missing".
func readFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "missing"
	}
	return string(data)
}

func TestSpec(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		cwd := filepath.Join(s.dir, "cwd")
		for _, d := range []string{cwd, filepath.Join(s.dir, "b"), filepath.Join(s.dir, "rootless")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// In the working directory, and never over an existing file.
		s.runx(expect{dir: cwd, check: succeeds}, "spec")
		s.noteWith(specShape, "config.json written by spec", readFile(filepath.Join(cwd, "config.json")))
		s.runx(expect{dir: cwd, check: fails}, "spec")
		s.runx(ok, "spec", "-b", filepath.Join(s.dir, "b"))
		s.noteWith(specShape, "config.json written by spec -b", readFile(filepath.Join(s.dir, "b", "config.json")))
		s.runx(ok, "spec", "--rootless", "--bundle", filepath.Join(s.dir, "rootless"))
		s.noteWith(specShape, "config.json written by spec --rootless", readFile(filepath.Join(s.dir, "rootless", "config.json")))
		// A relative bundle is the caller's working directory's.
		if err := os.MkdirAll(filepath.Join(cwd, "rel"), 0o755); err != nil {
			t.Fatal(err)
		}
		s.runx(expect{dir: cwd}, "spec", "-b", "rel")
		s.note("spec -b rel from cwd", shortExistence(filepath.Join(cwd, "rel", "config.json")))
		s.runx(fail, "spec", "-b", filepath.Join(s.dir, "nosuch"))
		s.runx(expect{dir: cwd, out: ignore, check: fails}, "spec", "extra")
	})
}

func shortExistence(path string) string {
	if _, err := os.Stat(path); err != nil {
		return "missing"
	}
	return "written"
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		// strata implements runtime-spec 1.3.0: its features document has
		// the newer fields (linux.netDevices, memoryPolicy...) too, and its
		// own annotations.
		s.runx(expect{out: asJSON(shape{free: []string{".annotations"}, superset: true}), check: succeeds}, "features")
		s.runx(usage, "features", "extra")
	})
}

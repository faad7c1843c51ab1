package compat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// commands is runc 1.1.5's command list (`runc --help`), each compared by
// its --help.
var commands = []string{"checkpoint", "create", "delete", "events", "exec", "kill", "list", "pause",
	"ps", "restore", "resume", "run", "spec", "start", "state", "update", "features"}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		for _, flag := range []string{"--version", "-v"} {
			s.runx(expect{out: versionLayout, check: succeeds}, flag)
		}
		for _, a := range [][]string{{"--help"}, {"-h"}, {"help"}} {
			s.runx(expect{out: helpLayout, check: succeeds}, a...)
		}
		for _, c := range commands {
			s.runx(expect{out: helpLayout, check: succeeds}, c, "--help")
		}
		s.runx(expect{out: helpLayout, check: succeeds}, "help", "kill")
		s.runx(expect{out: helpLayout, check: succeeds}, "kill", "-h")
		// Unknown commands and flags: both fail, saying so on stderr.
		s.runx(expect{out: ignore, check: fails}, "nosuchcommand")
		s.runx(expect{out: ignore, check: fails}, "--nosuchflag", "list")
		s.runx(expect{out: ignore, check: fails}, "list", "--nosuchflag")
	})
}

// TestGlobalFlags: --root (absolute and relative to the caller's cwd),
// --log with both formats, --debug, and the global flags' places.
func TestGlobalFlags(t *testing.T) {
	t.Parallel()
	compare(t, func(s *session) {
		id, _ := s.container("created")
		nosuch := s.nosuch()

		// A relative --root is the caller's cwd's: list it from inside
		// $TMP and from elsewhere by its absolute path.
		rel := expect{noRoot: true, dir: s.dir, out: table("ID", "STATUS", "BUNDLE")}
		s.runx(rel, "--root", "root", "list")
		rid := s.newID()
		s.runx(expect{noRoot: true, dir: s.dir, check: succeeds}, "--root", "relroot", "create", "-b", bundleFor(s, rid), rid)
		s.runx(expect{out: table("ID", "STATUS", "BUNDLE")}, "--root", filepath.Join(s.dir, "relroot"), "list")
		s.runx(expect{noRoot: true, check: succeeds}, "--root", filepath.Join(s.dir, "relroot"), "delete", "--force", rid)

		// --log: the error of a failing command goes to the file, in
		// runc's text or JSON lines; stdout stays clean.
		for _, format := range []string{"text", "json"} {
			log := filepath.Join(s.dir, "log-"+format)
			s.runx(expect{check: fails}, "--log", log, "--log-format", format, "state", nosuch)
			s.note("--log-format "+format+" file after a failed state", describeLog(log, format))
			s.runx(expect{check: succeeds, out: asJSON(shape{equal: []string{".id", ".status"}})},
				"--log", log, "--log-format", format, "state", id)
		}
		s.runx(expect{check: fails, out: ignore}, "--log-format", "yaml", "state", id)
		// --debug only adds to stderr; the state is the same.
		s.runx(expect{out: asJSON(shape{equal: []string{".id", ".status"}})}, "--debug", "state", id)
	})
}

// bundleFor makes a bundle for a container made by hand.
func bundleFor(s *session, id string) string {
	return s.bundle(id, args("sleep", "1000"))
}

// describeLog says what a --log file holds: how many lines, and for JSON
// the keys of each line and its level.
func describeLog(path, format string) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log file"
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if format != "json" {
			out = append(out, fmt.Sprintf("text line with level=error: %v", strings.Contains(line, "level=error")))
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			out = append(out, "not JSON")
			continue
		}
		keys := sortedKeys(m)
		out = append(out, fmt.Sprintf("keys %v, level %v", keys, m["level"]))
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), "\n")
}

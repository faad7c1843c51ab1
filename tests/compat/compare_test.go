package compat

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ignore is for stdouts that carry nothing comparable (a container's own
// output compared elsewhere).
func ignore(ref, got string) []string { return nil }

// shape is how JSON documents are compared.
type shape struct {
	// equal lists paths (".status", "[].id") whose values must be equal.
	equal []string
	// free lists paths of objects whose keys are the runtime's own
	// (annotations): only the types of keys both have are compared.
	free []string
	// superset lets strata's objects have keys runc's lack (strata
	// implements a newer runtime-spec); the reason is the case's.
	superset bool
	// optional lists paths of keys that either side may leave out: Go's
	// omitempty drops a zero counter, so they come and go with the value.
	optional []string
}

// asJSON compares two JSON documents (or one document per line) by shape:
// the same keys with values of the same type, recursively, and the values
// at sh.equal.
func asJSON(sh shape) func(ref, got string) []string {
	return func(ref, got string) []string {
		if ref == "" {
			// The command failed in runc: nothing to decode.
			return exactly(ref, got)
		}
		refDocs, err := decodeAll(ref)
		if err != nil {
			return []string{fmt.Sprintf("runc's output is not JSON (the test is wrong): %v", err)}
		}
		gotDocs, err := decodeAll(got)
		if err != nil {
			return []string{fmt.Sprintf("not JSON: %v: %s", err, quote(got))}
		}
		if len(refDocs) != len(gotDocs) {
			return []string{fmt.Sprintf("%d JSON documents, want %d", len(gotDocs), len(refDocs))}
		}
		var diffs []string
		for i := range refDocs {
			diffs = append(diffs, sh.diff("", refDocs[i], gotDocs[i])...)
		}
		return diffs
	}
}

// decodeAll reads a stream of JSON documents (events prints one a line).
func decodeAll(text string) ([]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var docs []any
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no JSON document")
	}
	return docs, nil
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func (sh shape) diff(path string, ref, got any) []string {
	if slices.Contains(sh.equal, path) {
		r, _ := json.Marshal(ref)
		g, _ := json.Marshal(got)
		if string(r) != string(g) {
			return []string{fmt.Sprintf("%s is %s, want %s", orRoot(path), g, r)}
		}
	}
	if kind(ref) != kind(got) {
		return []string{fmt.Sprintf("%s is %s, want %s", orRoot(path), kind(got), kind(ref))}
	}
	var diffs []string
	switch r := ref.(type) {
	case map[string]any:
		g := got.(map[string]any)
		free := slices.Contains(sh.free, path)
		for _, k := range sortedKeys(r) {
			gv, ok := g[k]
			switch {
			case ok:
				diffs = append(diffs, sh.diff(path+"."+k, r[k], gv)...)
			case !free && !slices.Contains(sh.optional, path+"."+k):
				diffs = append(diffs, fmt.Sprintf("%s.%s missing", path, k))
			}
		}
		for _, k := range sortedKeys(g) {
			if _, ok := r[k]; !ok && !free && !sh.superset && !slices.Contains(sh.optional, path+"."+k) {
				diffs = append(diffs, fmt.Sprintf("%s.%s is extra (runc has no such key)", path, k))
			}
		}
	case []any:
		g := got.([]any)
		// Lengths differ legitimately (features lists, processes); the
		// elements both have must agree in shape.
		for i := 0; i < len(r) && i < len(g); i++ {
			diffs = append(diffs, sh.diff(path+"[]", r[i], g[i])...)
		}
		if slices.Contains(sh.equal, path+"#") && len(r) != len(g) {
			diffs = append(diffs, fmt.Sprintf("%s has %d elements, want %d", orRoot(path), len(g), len(r)))
		}
	}
	return dedupe(diffs)
}

func orRoot(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

// dedupe keeps the first of repeated messages (every element of an array
// missing the same key says so once).
func dedupe(diffs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range diffs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// table compares `list`/`ps` tables: the same header, the same number of
// rows, and in each row the values of the named columns.
func table(cols ...string) func(ref, got string) []string {
	return func(ref, got string) []string {
		rl, gl := lines(ref), lines(got)
		if len(rl) == 0 || len(gl) == 0 {
			return exactly(ref, got)
		}
		var diffs []string
		if strings.Join(strings.Fields(rl[0]), " ") != strings.Join(strings.Fields(gl[0]), " ") {
			diffs = append(diffs, fmt.Sprintf("header %q, want %q", gl[0], rl[0]))
		}
		if len(rl) != len(gl) {
			return append(diffs, fmt.Sprintf("%d rows, want %d", len(gl)-1, len(rl)-1))
		}
		header := strings.Fields(rl[0])
		for i := 1; i < len(rl); i++ {
			rf, gf := strings.Fields(rl[i]), strings.Fields(gl[i])
			for _, c := range cols {
				j := slices.Index(header, c)
				// CMD is the last column and may hold spaces.
				rv, gv := field(rf, j, c == "CMD"), field(gf, j, c == "CMD")
				if rv != gv {
					diffs = append(diffs, fmt.Sprintf("row %d column %s is %q, want %q", i, c, gv, rv))
				}
			}
		}
		return diffs
	}
}

func field(fields []string, i int, rest bool) string {
	if i < 0 || i >= len(fields) {
		return ""
	}
	if rest {
		return strings.Join(fields[i:], " ")
	}
	return fields[i]
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// versionLayout compares `--version` by the labels of its lines: "$RT
// version", "commit:", "spec:", "go:", "libseccomp:", in that order, each
// with a value. Tools split these lines on ": ".
func versionLayout(ref, got string) []string {
	labels := func(s string) []string {
		var out []string
		for _, l := range lines(s) {
			if label, value, ok := strings.Cut(l, ": "); ok && value != "" {
				out = append(out, label+":")
			} else if f := strings.Fields(l); len(f) == 3 && f[1] == "version" {
				out = append(out, f[0]+" version")
			} else {
				out = append(out, "unparsable line "+l)
			}
		}
		return out
	}
	if r, g := labels(ref), labels(got); !slices.Equal(r, g) {
		return []string{fmt.Sprintf("lines %q, want %q", g, r)}
	}
	return nil
}

var (
	helpSection = regexp.MustCompile(`^([A-Z][A-Z ]+):`)
	// A flag's spelling up to its description: "--bundle value, -b value".
	helpFlag = regexp.MustCompile(`^\s+(-.*?)(\s{2,}|$)`)
	// A command: "create", "help, h".
	helpCommand = regexp.MustCompile(`^\s+([a-z][a-z-]*(?:, [a-z]+)*)(\s{2,}|$)`)
)

// helpLayout compares `--help` texts by their structural sections (NAME:,
// USAGE:, VERSION:, COMMANDS:, GLOBAL OPTIONS:) in order and, in each
// section, the commands or flags listed with their short forms: every one
// runc lists must be listed by strata too. The prose (DESCRIPTION:,
// EXAMPLE:), and strata's extra commands and flags, are its own.
func helpLayout(ref, got string) []string {
	var diffs []string
	rs, rEntries := helpEntries(ref)
	gs, gEntries := helpEntries(got)
	if !slices.Equal(rs, gs) {
		diffs = append(diffs, fmt.Sprintf("sections %q, want %q", gs, rs))
	}
	for _, e := range rEntries {
		if !slices.Contains(gEntries, e) {
			diffs = append(diffs, fmt.Sprintf("%s not listed", e))
		}
	}
	return diffs
}

var structural = map[string]bool{"NAME": true, "USAGE": true, "VERSION": true, "COMMANDS": true, "GLOBAL OPTIONS": true}

// helpEntries returns the section names in order and "SECTION: entry" for
// each command or flag listed.
func helpEntries(text string) (sections, entries []string) {
	section := ""
	for _, l := range strings.Split(text, "\n") {
		if m := helpSection.FindStringSubmatch(l); m != nil {
			section = m[1]
			if structural[section] {
				sections = append(sections, section)
			}
			continue
		}
		var entry string
		switch {
		case strings.HasSuffix(section, "OPTIONS"):
			if m := helpFlag.FindStringSubmatch(l); m != nil {
				// A repeatable flag's spelling is repeated: "--env value,
				// -e value [ --env value, -e value ]".
				spelling, _, _ := strings.Cut(m[1], " [ ")
				entry = strings.ReplaceAll(spelling, " value", "")
			}
		case section == "COMMANDS":
			if m := helpCommand.FindStringSubmatch(l); m != nil {
				entry = m[1]
			}
		}
		if entry != "" {
			entries = append(entries, section+": "+entry)
		}
	}
	return sections, entries
}

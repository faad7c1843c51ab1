package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteSection: the report replaces its own section of an earlier run
// and nothing else, or is appended when the file has none.
func TestWriteSection(t *testing.T) {
	report := sectionTitle + ": new\n\nnew table\n"
	for _, c := range []struct{ name, before, want string }{
		{"no file", "", report},
		{"appended", "# Benchmarks\n\ntable\n", "# Benchmarks\n\ntable\n\n" + report},
		{"replaced at the end", "# Benchmarks\n\n" + sectionTitle + ": old\n\nold table\n", "# Benchmarks\n\n" + report},
		{"replaced in the middle", "# B\n\n" + sectionTitle + ": old\n\nold\n\n## Later\n\nkept\n", "# B\n\n" + report + "\n## Later\n\nkept\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "benchmarks.md")
			if c.before != "" {
				if err := os.WriteFile(path, []byte(c.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeSection(path, report); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteReport: the runtime table replaces the top of the file and keeps
// the "## " sections below it.
func TestWriteReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := writeReport(path, "# Benchmarks\n\nfirst\n"); err != nil {
		t.Fatal(err)
	}
	old := "# Benchmarks\n\nold table\n\n## The image side\n\nkept\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "# Benchmarks\n\nnew table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "# Benchmarks\n\nnew table\n\n## The image side\n\nkept\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

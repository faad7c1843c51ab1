package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	app := newApp()
	for _, tc := range []struct{ in, want string }{
		{"strata update ID --memory 1M", "strata update --memory 1M ID"},
		{"strata --root /r update ID --memory=1M --pids-limit 5", "strata --root /r update --memory=1M --pids-limit 5 ID"},
		{"strata update ID --memory -1", "strata update --memory -1 ID"},
		{"strata kill ID KILL --all", "strata kill --all ID KILL"},
		{"strata kill ID -- KILL", "strata kill ID -- KILL"},
		{"strata delete ID -f", "strata delete -f ID"},
		{"strata --debug create ID -b bundle", "strata --debug create -b bundle ID"},
		{"strata update -r - ID", "strata update -r - ID"},
		// The command to run and ps(1)'s options are not strata's flags.
		{"strata exec ID sh -c --help", "strata exec ID sh -c --help"},
		{"strata ps ID -o pid", "strata ps ID -o pid"},
		// An unknown flag stays where it was, for the parser to name.
		{"strata state ID --foo", "strata state ID --foo"},
		{"strata --version", "strata --version"},
	} {
		got := reorderArgs(app, strings.Fields(tc.in))
		if want := strings.Fields(tc.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, want)
		}
	}
}

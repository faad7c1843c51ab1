package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every flag of every command has its names worked out once: a flag of a
// type fixFlagNames does not know would bring the regexp back, per pair.
// And the names are the ones urfave/cli itself gives.
func TestEveryFlagHasFixedNames(t *testing.T) {
	app := newApp()
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			lib, ok := libraryFlag(f)
			if !ok {
				t.Errorf("%s: flag %v (%T) is not wrapped by fixFlagNames", where, f.Names(), f)
				continue
			}
			if !reflect.DeepEqual(f.Names(), lib.Names()) {
				t.Errorf("%s: names %q, urfave/cli gives %q", where, f.Names(), lib.Names())
			}
		}
	}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			check(prefix+c.Name, c.Flags)
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	check("strata", app.Flags)
	walk("", app.Commands)
}

// The options' help text is what the library's own flags give: the wrappers hide
// the concrete types, which urfave/cli's help asks for in one place.
func TestWrappedFlagsHelpUnchanged(t *testing.T) {
	for _, name := range []string{"run", "exec", "create", "delete", "update"} {
		got := commandHelp(t, newApp(), name)
		plain := newApp()
		unwrap(plain)
		want := commandHelp(t, plain, name)
		g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := 0; i < len(g) || i < len(w); i++ {
			if i >= len(g) || i >= len(w) || g[i] != w[i] {
				t.Errorf("strata %s --help, line %d: wrapped flags give %q, urfave/cli's %q", name, i+1, at(g, i), at(w, i))
				break
			}
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}

func commandHelp(t *testing.T, app *cli.App, name string) string {
	t.Helper()
	var out bytes.Buffer
	app.Writer = &out
	if err := app.Run([]string{"strata", name, "--help"}); err != nil {
		t.Fatalf("strata %s --help: %v", name, err)
	}
	// The flags' part: the command's name line grows with each Run of the
	// shared command values.
	_, opts, ok := strings.Cut(out.String(), "OPTIONS:")
	if !ok || !strings.Contains(opts, "--") {
		t.Fatalf("strata %s --help printed no options:\n%s", name, out.String())
	}
	return opts
}

func unwrap(app *cli.App) {
	var flags func([]cli.Flag)
	flags = func(fs []cli.Flag) {
		for i, f := range fs {
			if lib, ok := libraryFlag(f); ok {
				fs[i] = lib
			}
		}
	}
	var cmds func([]*cli.Command)
	cmds = func(cs []*cli.Command) {
		for _, c := range cs {
			flags(c.Flags)
			cmds(c.Subcommands)
		}
	}
	flags(app.Flags)
	cmds(app.Commands)
}

// libraryFlag is the urfave/cli flag a wrapper of flagnames.go holds.
func libraryFlag(f cli.Flag) (cli.Flag, bool) {
	switch w := f.(type) {
	case boolFlag:
		return w.BoolFlag, true
	case stringFlag:
		return w.StringFlag, true
	case stringSliceFlag:
		return w.StringSliceFlag, true
	case int64SliceFlag:
		return w.Int64SliceFlag, true
	case intFlag:
		return w.IntFlag, true
	case durationFlag:
		return w.DurationFlag, true
	}
	return nil, false
}

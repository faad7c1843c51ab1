package main

import "github.com/urfave/cli/v2"

// urfave/cli works a flag's names out again on every call of Names(),
// through a regexp (it strips the v1 spelling "name, alias"), and it calls
// Names() for every pair of a command's flags: deciding which flag actions
// to run asks IsSet of each name, and IsSet looks the name up among all the
// flags. That was about 4% of an `exec`'s CPU and 2% of a `run`'s (perf
// record, 2026-12-03). strata's names are plain words, so fixNames gives
// every flag the names it already has, worked out once.
//
// The wrappers embed the library's flag, so every interface urfave/cli asks
// a flag for (actions, help text, required flags) is still there. What
// looks for the concrete type (*cli.BoolFlag) no longer finds it: strata's
// own code asks TakesValue instead (args.go), and urfave/cli does so only
// for help text of bool flags with DisableDefaultText and for shell
// completion, which strata uses neither of.

type boolFlag struct {
	*cli.BoolFlag
	names []string
}

func (f boolFlag) Names() []string { return f.names }

type stringFlag struct {
	*cli.StringFlag
	names []string
}

func (f stringFlag) Names() []string { return f.names }

type stringSliceFlag struct {
	*cli.StringSliceFlag
	names []string
}

func (f stringSliceFlag) Names() []string { return f.names }

type int64SliceFlag struct {
	*cli.Int64SliceFlag
	names []string
}

func (f int64SliceFlag) Names() []string { return f.names }

type intFlag struct {
	*cli.IntFlag
	names []string
}

func (f intFlag) Names() []string { return f.names }

type durationFlag struct {
	*cli.DurationFlag
	names []string
}

func (f durationFlag) Names() []string { return f.names }

// fixNames wraps the app's flags and those of every command and subcommand.
func fixNames(app *cli.App) {
	fixFlagNames(app.Flags)
	fixCommandNames(app.Commands)
}

func fixCommandNames(cmds []*cli.Command) {
	for _, c := range cmds {
		fixFlagNames(c.Flags)
		fixCommandNames(c.Subcommands)
	}
}

func fixFlagNames(flags []cli.Flag) {
	for i, f := range flags {
		switch t := f.(type) {
		case *cli.BoolFlag:
			flags[i] = boolFlag{t, plainNames(t.Name, t.Aliases)}
		case *cli.StringFlag:
			flags[i] = stringFlag{t, plainNames(t.Name, t.Aliases)}
		case *cli.StringSliceFlag:
			flags[i] = stringSliceFlag{t, plainNames(t.Name, t.Aliases)}
		case *cli.Int64SliceFlag:
			flags[i] = int64SliceFlag{t, plainNames(t.Name, t.Aliases)}
		case *cli.IntFlag:
			flags[i] = intFlag{t, plainNames(t.Name, t.Aliases)}
		case *cli.DurationFlag:
			flags[i] = durationFlag{t, plainNames(t.Name, t.Aliases)}
		}
	}
}

// plainNames is the flag's name and aliases, as they are: no strata flag
// has a comma or a space in a name, which the library would cut off
// (TestEveryFlagHasFixedNames compares every flag's with urfave/cli's).
func plainNames(name string, aliases []string) []string {
	return append([]string{name}, aliases...)
}

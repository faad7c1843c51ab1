package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// runc's CLI (urfave/cli v1) moves a command's flags in front of its
// positional arguments before parsing them, so `runc update ID --memory 1M`
// and `runc kill ID KILL --all` work; urfave/cli v2 stops at the first
// positional argument. Scripts and engines rely on the v1 behaviour, so
// strata reorders the arguments the same way before the CLI sees them.
//
// exec and ps are left as they are, as in runc: what follows the container
// ID there is the command to run, or ps(1)'s own options.
var keepArgOrder = map[string]bool{"exec": true, "ps": true}

// reorderArgs returns args (os.Args) with the subcommand's flags moved in
// front of its positional arguments. Everything after "--" stays in place.
func reorderArgs(app *cli.App, args []string) []string {
	i, cmd := findCommand(app, args)
	if cmd == nil || keepArgOrder[cmd.Name] || len(cmd.Subcommands) > 0 || cmd.SkipFlagParsing {
		return args
	}
	takesValue := flagArity(cmd.Flags)
	var flags, positional []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			positional = append(positional, rest[j:]...)
			break
		}
		name, hasValue, ok := flagName(a)
		valued, known := takesValue[name]
		if !ok || !known {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		// As urfave/cli v1: the next word is the flag's value unless it is
		// itself one of the command's flags (so `--memory -1` keeps -1).
		if valued && !hasValue && j+1 < len(rest) {
			if n, _, isFlag := flagName(rest[j+1]); !isFlag || !knownFlag(takesValue, n) {
				flags = append(flags, rest[j+1])
				j++
			}
		}
	}
	out := append([]string{}, args[:i+1]...)
	out = append(out, flags...)
	return append(out, positional...)
}

// findCommand skips the global flags and returns the index and definition
// of the subcommand in args, or nil when there is none.
func findCommand(app *cli.App, args []string) (int, *cli.Command) {
	takesValue := flagArity(app.Flags)
	for i := 1; i < len(args); i++ {
		name, hasValue, ok := flagName(args[i])
		if !ok {
			for _, c := range app.Commands {
				if c.HasName(args[i]) {
					return i, c
				}
			}
			return 0, nil
		}
		if takesValue[name] && !hasValue {
			i++
		}
	}
	return 0, nil
}

// flagArity maps every name and alias of flags (and the implicit help flag)
// to whether it takes a value.
func flagArity(flags []cli.Flag) map[string]bool {
	m := map[string]bool{"help": false, "h": false}
	for _, f := range flags {
		for _, n := range f.Names() {
			m[n] = takesValue(f)
		}
	}
	return m
}

// takesValue says whether a flag is followed by a value (all but the bool
// ones). Asked of the interface: the flags are wrapped (flagnames.go).
func takesValue(f cli.Flag) bool {
	v, ok := f.(cli.DocGenerationFlag)
	return ok && v.TakesValue()
}

func knownFlag(m map[string]bool, name string) bool {
	_, ok := m[name]
	return ok
}

// flagName parses "-x", "--name" or "--name=value".
func flagName(a string) (name string, hasValue, ok bool) {
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return "", false, false
	}
	name = strings.TrimLeft(a, "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue, name != ""
}

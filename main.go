// Command strata is an OCI runtime: a drop-in replacement for runc.
//
// This file holds the application, its global flags and the error path; each
// subcommand lives in a file of its own named for it.
package main

import (
	"fmt"
	"os"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer/seccomp"
)

// Set at build time by the Makefile (-ldflags -X).
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

const defaultRoot = "/run/strata"

func main() {
	// The container init is this binary re-executed; it must not pay for CLI
	// parsing, and its arguments are not the user's.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runInit()
		return
	}
	slackMonitor()
	app := newApp()
	if err := app.Run(reorderArgs(app, os.Args)); err != nil {
		fatal(err)
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "strata",
		Usage: "Open Container Initiative runtime",
		// runc's lines, which tools parse (commit:, spec:, libseccomp:).
		Version: fmt.Sprintf("%s\ncommit: %s\nspec: %s\ngo: %s\nlibseccomp: %s", version, commit, specs.Version, runtime.Version(), seccomp.LibraryVersion()),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: defaultRoot, Usage: "root directory for storage of container state (rootless: $XDG_RUNTIME_DIR/strata)"},
			&cli.StringFlag{Name: "log", Usage: "write the runtime's log to this file instead of stderr"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug output, including per-phase timings"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "create the container's cgroup as a transient systemd scope; linux.cgroupsPath is then \"slice:prefix:name\" (cgroup v2 hosts with systemd as init)"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "rootless mode: true, false or auto (auto: rootless when not run as root)"},
			&cli.StringFlag{Name: "criu", Value: "criu", Usage: "path to the criu binary used for checkpoint and restore"},
		},
		Before: setupGlobals,
		// A repeated flag is a list, one value each time, as in runc: a
		// value with a comma (exec -e A=x,y, exec --cgroup cpu,memory:sub)
		// is one value, not split.
		DisableSliceFlagSeparator: true,
		Commands:                  commands(),
		// runc's status for a command it does not have: 3.
		CommandNotFound: func(ctx *cli.Context, name string) {
			fmt.Fprintf(os.Stderr, "strata: no such command %q (strata --help lists them)\n", name)
			os.Exit(3)
		},
		// Errors are reported once, by fatal, in runc's format.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	fixNames(app)
	return app
}

func commands() []*cli.Command {
	return []*cli.Command{
		buildCommand,
		bundleCommand,
		checkCommand,
		checkpointCommand,
		createCommand,
		deleteCommand,
		eventsCommand,
		execCommand,
		featuresCommand,
		killCommand,
		listCommand,
		pauseCommand,
		psCommand,
		pullCommand,
		pushCommand,
		restoreCommand,
		resumeCommand,
		runCommand,
		specCommand,
		startCommand,
		stateCommand,
		updateCommand,
	}
}

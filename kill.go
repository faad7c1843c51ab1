package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal to a container's init (default SIGTERM)",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "send the signal to every process of the container"},
	},
	Action: func(ctx *cli.Context) error {
		if n := ctx.NArg(); n < 1 || n > 2 {
			return fmt.Errorf("kill: expected a container ID and an optional signal, got %d arguments", n)
		}
		id := ctx.Args().Get(0)
		sig := unix.SIGTERM
		if ctx.NArg() == 2 {
			var err error
			if sig, err = parseSignal(ctx.Args().Get(1)); err != nil {
				return err
			}
		}
		c, err := libcontainer.Load(ctx.String("root"), id)
		if err != nil {
			return containerError(ctx, id, err)
		}
		defer c.Close()
		return containerError(ctx, id, c.Signal(sig, ctx.Bool("all")))
	},
}

// parseSignal accepts what runc accepts: "KILL", "SIGKILL", "9", and 0,
// which delivers nothing and only asks whether the container's init is
// alive (kill(2)'s null signal; scripts and engines probe with it).
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q: numbers go from 0 to 64", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q: expected a name such as TERM or SIGKILL, or a number", s)
}

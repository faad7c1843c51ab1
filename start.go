package main

import (
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start the user's program in a created container",
	ArgsUsage: "<container-id>",
	Action: func(ctx *cli.Context) error {
		return onContainer(ctx, func(c *libcontainer.Container) error { return warnHook(c.Start()) })
	},
}

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
		id, err := requireID(ctx)
		if err != nil {
			return err
		}
		c, err := libcontainer.Load(ctx.String("root"), id)
		if err != nil {
			return err
		}
		defer c.Close()
		return warnHook(c.Start())
	},
}

package main

import (
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a stopped container (with --force, any container)",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it is not stopped"},
	},
	Action: func(ctx *cli.Context) error {
		return onContainer(ctx, func(c *libcontainer.Container) error {
			return warnHook(c.Destroy(ctx.Bool("force")))
		})
	},
}

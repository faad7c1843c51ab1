package main

import (
	"errors"

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
		err := onContainer(ctx, func(c *libcontainer.Container) error {
			return warnHook(c.Destroy(ctx.Bool("force")))
		})
		// As runc: engines clean up blindly with delete --force, so a
		// container that is already gone is not an error then.
		if ctx.Bool("force") && errors.Is(err, libcontainer.ErrNotExist) {
			return nil
		}
		return err
	},
}

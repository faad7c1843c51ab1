package main

import "github.com/urfave/cli/v2"

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container",
	ArgsUsage: "<container-id>",
	Description: `Sets up the container described by the bundle's config.json and leaves
its init waiting: "strata start" runs the user's program.`,
	Flags: createFlags,
	Action: func(ctx *cli.Context) error {
		id, err := requireID(ctx)
		if err != nil {
			return err
		}
		c, p, _, err := createContainer(ctx, id, nil)
		if err != nil {
			return containerError(ctx, id, err)
		}
		p.Detach()
		c.Close()
		return nil
	},
}

package main

import (
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "resume every process of a paused container",
	ArgsUsage: "<container-id>",
	Action: func(ctx *cli.Context) error {
		return onContainer(ctx, (*libcontainer.Container).Resume)
	},
}

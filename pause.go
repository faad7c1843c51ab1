package main

import (
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var pauseCommand = &cli.Command{
	Name:      "pause",
	Usage:     "suspend every process of a container (cgroup freezer)",
	ArgsUsage: "<container-id>",
	Action: func(ctx *cli.Context) error {
		return onContainer(ctx, (*libcontainer.Container).Pause)
	},
}

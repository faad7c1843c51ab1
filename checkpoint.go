//go:build strata_image

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var checkpointCommand = &cli.Command{
	Name:      "checkpoint",
	Usage:     checkpointUsage,
	ArgsUsage: "<container-id>",
	Description: `Saves the state of a running or paused container with CRIU (the criu
binary, Debian package "criu"; --criu names another) in --image-path, by
default ./checkpoint. The container's processes then end and the container
is deleted, as runc does, unless --leave-running or --pre-dump keep it
running. "strata restore" runs it again, under this ID or another.`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "image-path", Usage: "path for saving criu image files"},
		&cli.StringFlag{Name: "parent-path", Usage: "path for previous criu image files in pre-dump"},
		&cli.BoolFlag{Name: "leave-running", Usage: "leave the process running after checkpointing"},
		&cli.IntFlag{Name: "status-fd", Value: -1, Usage: "criu writes \\0 to this FD once lazy-pages is ready (refused: no --lazy-pages)"},
		&cli.StringFlag{Name: "page-server", Usage: "ADDRESS:PORT of the page server"},
		&cli.BoolFlag{Name: "pre-dump", Usage: "dump container's memory information only, leave the container running after this"},
	}, criuFlags...),
	Action: func(ctx *cli.Context) error {
		id, err := requireID(ctx)
		if err != nil {
			return err
		}
		if err := requireRoot("checkpoint"); err != nil {
			return err
		}
		o, err := checkpointOptions(ctx)
		if err != nil {
			return err
		}
		c, err := libcontainer.Load(ctx.String("root"), id)
		if err != nil {
			return containerError(ctx, id, err)
		}
		defer c.Close()
		// Made only for a container that exists, so that a mistyped ID
		// leaves no directory behind; 0700: the images hold the
		// container's memory.
		if err := os.MkdirAll(o.ImagePath, 0o700); err != nil {
			return fmt.Errorf("--image-path: %w", err)
		}
		if err := c.Checkpoint(o); err != nil {
			return containerError(ctx, id, err)
		}
		if o.LeaveRunning || o.PreDump {
			return nil
		}
		// CRIU has ended the processes; the cgroups, poststop hooks and
		// state go as with delete.
		return containerError(ctx, id, warnHook(c.Destroy(true)))
	},
}

func checkpointOptions(ctx *cli.Context) (libcontainer.CheckpointOpts, error) {
	co, err := criuOptions(ctx)
	o := libcontainer.CheckpointOpts{CriuOpts: co, LeaveRunning: ctx.Bool("leave-running"), PreDump: ctx.Bool("pre-dump")}
	if err != nil {
		return o, err
	}
	if ctx.Int("status-fd") != -1 {
		return o, errors.New("--status-fd: only used with --lazy-pages, which strata does not support")
	}
	if p := ctx.String("parent-path"); p != "" {
		// As runc: relative to the image directory, where CRIU looks.
		if filepath.IsAbs(p) {
			return o, fmt.Errorf("--parent-path %s: must be relative to --image-path", p)
		}
		if st, err := os.Stat(filepath.Join(o.ImagePath, p)); err != nil {
			return o, fmt.Errorf("--parent-path: %w", err)
		} else if !st.IsDir() {
			return o, fmt.Errorf("--parent-path %s: not a directory", filepath.Join(o.ImagePath, p))
		}
		o.ParentPath = p
	}
	if ps := ctx.String("page-server"); ps != "" {
		host, port, err := net.SplitHostPort(ps)
		n, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || host == "" || perr != nil || n == 0 {
			return o, fmt.Errorf("--page-server %q: expected ADDRESS:PORT", ps)
		}
		o.PageServerAddress, o.PageServerPort = host, int32(n)
	}
	return o, nil
}

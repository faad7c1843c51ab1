package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer/specconv"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json into the bundle",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "bundle directory (default: the current directory)"},
		&cli.BoolFlag{Name: "rootless", Usage: "a spec for a container run by an unprivileged user"},
	},
	Action: func(ctx *cli.Context) error {
		s := specconv.Example()
		if ctx.Bool("rootless") {
			specconv.ToRootless(s, uint32(os.Geteuid()), uint32(os.Getegid()))
		}
		b, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			return err
		}
		path := filepath.Join(ctx.String("bundle"), "config.json")
		// O_EXCL: refuse to overwrite, without a window between check and write.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("spec: %s already exists; remove it first", path)
		}
		if err != nil {
			return fmt.Errorf("spec: %w", err)
		}
		defer f.Close()
		if _, err := f.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("spec: write %s: %w", path, err)
		}
		return f.Close()
	},
}

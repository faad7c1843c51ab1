//go:build strata_image

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/libcontainer"
)

var bundleRmCommand = &cli.Command{
	Name:      "rm",
	Usage:     "unmount a bundle, remove what create made and release its layers",
	ArgsUsage: "BUNDLE...",
	Description: `A bundle that a container under --root runs from (created, running or
paused) is refused, naming the container, unless --force, which kills and
deletes that container first. Processes of other runtimes whose root is the
bundle's rootfs are refused even so: stop them with their runtime.`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill and delete the containers running from the bundle first"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 {
			return errors.New("bundle rm: BUNDLE argument missing")
		}
		for _, dir := range ctx.Args().Slice() {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return fmt.Errorf("bundle rm %s: %w", dir, err)
			}
			if err := stopBundleContainers(ctx.String("root"), abs, ctx.Bool("force")); err != nil {
				return err
			}
			if err := bundle.Remove(abs); err != nil {
				return err
			}
		}
		return nil
	},
}

// stopBundleContainers finds the containers under root that run from the
// bundle at dir and are not stopped: an error naming them, or with force,
// each killed and deleted as `delete --force` would.
func stopBundleContainers(root, dir string, force bool) error {
	users, err := bundleContainers(root, dir)
	if err != nil || len(users) == 0 {
		return err
	}
	if !force {
		named := make([]string, len(users))
		for i, c := range users {
			named[i] = fmt.Sprintf("%q (%s)", c.State.ID, c.Status())
		}
		return fmt.Errorf("bundle rm %s: container %s runs from it: stop and delete it first, or use --force", dir, strings.Join(named, ", "))
	}
	for _, peeked := range users {
		id := peeked.State.ID
		c, err := libcontainer.Load(root, id)
		if errors.Is(err, libcontainer.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("bundle rm %s: container %q: %w", dir, id, err)
		}
		err = warnHook(c.Destroy(true))
		c.Close()
		if err != nil {
			return fmt.Errorf("bundle rm %s: delete container %q: %w", dir, id, err)
		}
	}
	return nil
}

// bundleContainers lists the containers under root made from the bundle at
// dir (an absolute path, as create records it) that are not stopped.
func bundleContainers(root, dir string) ([]*libcontainer.Container, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--root %s: %w", root, err)
	}
	var out []*libcontainer.Container
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := libcontainer.Peek(root, e.Name())
		if err != nil {
			continue // removed while we looked, or not a container
		}
		if c.State.Bundle == dir && c.Status() != libcontainer.Stopped {
			out = append(out, c)
		}
	}
	return out, nil
}

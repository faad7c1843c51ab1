package main

import (
	"errors"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and run a container",
	ArgsUsage: "<container-id>",
	Description: `Creates and starts the container in one step. In the foreground it waits
for the container and exits with its status (128+N when signal N killed it),
then deletes it unless --keep is given.`,
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the container has started"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
		// runc makes a foreground run a child subreaper unless told not
		// to; strata never does (orphans go to the host's init), so the
		// flag asks for what already happens.
		&cli.BoolFlag{Name: "no-subreaper", Usage: "accepted for runc compatibility: strata never makes itself a subreaper"},
	}, createFlags...),
	Action: func(ctx *cli.Context) error {
		id, err := requireID(ctx)
		if err != nil {
			return err
		}
		return containerError(ctx, id, runContainer(ctx, id))
	},
}

// runContainer is run's work once the ID is known; its errors are the
// caller's to prefix.
func runContainer(ctx *cli.Context, id string) error {
	// Caught from before the container exists, so none is lost.
	relay, err := catchSignals(ctx.Bool("detach"))
	if err != nil {
		return err
	}
	c, p, cons, err := createContainer(ctx, id, relay)
	if err != nil {
		return err
	}
	defer c.Close()
	restore, err := cons.proxy()
	if err != nil {
		p.Detach()
		c.Destroy(true)
		return err
	}
	defer restore()
	t0 := time.Now()
	if err := warnHook(c.Start()); err != nil {
		// The init's own account of why it died beats "exited".
		if ierr := p.ExecResult(); ierr != nil {
			err = ierr
		}
		p.Detach()
		c.Destroy(true)
		return err
	}
	if err := p.ExecResult(); err != nil {
		p.Wait()
		c.Destroy(true)
		return err
	}
	log.Debugf("container %s: start and exec took %v", id, time.Since(t0))
	if ctx.Bool("detach") {
		p.Detach()
		return nil
	}
	// As runc: the container is other commands' to kill, pause or
	// delete while it runs.
	c.Close()
	code, err := relay.waitFor(p.Pid, p.Wait)
	if err != nil {
		return err
	}
	if !ctx.Bool("keep") {
		// As runc: the status is the container's; a failed clean-up
		// is reported beside it.
		if err := destroyAfterRun(c); err != nil {
			log.Errorf("%s", containerError(ctx, id, err))
		}
	}
	return &exitError{code}
}

// destroyAfterRun deletes the container a foreground run waited for,
// unless another command (delete --force) already did.
func destroyAfterRun(c *libcontainer.Container) error {
	if err := c.Relock(); err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) {
			return nil
		}
		return err
	}
	defer c.Close()
	return warnHook(c.Destroy(false))
}

package main

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
	"github.com/strata-runtime/strata/libcontainer/cgroups"
)

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "display container events (OOM notifications) and cpu, memory and IO statistics",
	ArgsUsage: "<container-id>",
	Description: `Prints one JSON object per line, as runc does: {"type":"stats","id":ID,"data":{...}}
every --interval, and {"type":"oom","id":ID} when the OOM killer acts in the
container. It ends when the container stops. With --stats it prints the
statistics once and exits.`,
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "set the stats collection interval"},
		&cli.BoolFlag{Name: "stats", Usage: "display the container's stats then exit"},
	},
	Action: func(ctx *cli.Context) error {
		id, err := requireID(ctx)
		if err != nil {
			return err
		}
		interval := ctx.Duration("interval")
		if interval <= 0 {
			return errors.New("--interval: must be greater than 0")
		}
		return containerError(ctx, id, watchEvents(ctx, id, interval))
	},
}

// watchEvents is events' work once the ID is known; its errors are the
// caller's to prefix.
func watchEvents(ctx *cli.Context, id string, interval time.Duration) error {
	c, err := libcontainer.Peek(ctx.String("root"), id)
	if err != nil {
		return err
	}
	if c.Status() == libcontainer.Stopped {
		return errors.New("not running (status is stopped)")
	}
	enc := json.NewEncoder(os.Stdout)
	stats := func() error {
		s, err := c.Stats()
		if err != nil {
			return err
		}
		return enc.Encode(cgroups.Event{Type: "stats", ID: id, Data: s})
	}
	if ctx.Bool("stats") {
		return stats()
	}
	oom, err := c.NotifyOOM()
	if err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	// The OOM channel closes when the cgroup is removed; a stopped
	// container whose cgroup lingers (not yet deleted) ends the loop
	// through the status check.
	check := time.NewTicker(200 * time.Millisecond)
	defer check.Stop()
	for {
		select {
		case _, ok := <-oom:
			if !ok {
				return nil
			}
			if err := enc.Encode(cgroups.Event{Type: "oom", ID: id}); err != nil {
				return err
			}
		case <-tick.C:
			if err := stats(); err != nil {
				log.Errorf("%s", containerError(ctx, id, err))
			}
		case <-check.C:
			if c.Status() == libcontainer.Stopped {
				drainOOM(oom, enc, id)
				return nil
			}
		}
	}
}

// drainOOM prints the OOM events already delivered when the container
// stopped: the OOM kill of its init is what stopped it.
func drainOOM(oom <-chan struct{}, enc *json.Encoder, id string) {
	deadline := time.After(100 * time.Millisecond)
	for {
		select {
		case _, ok := <-oom:
			if !ok {
				return
			}
			enc.Encode(cgroups.Event{Type: "oom", ID: id})
		case <-deadline:
			return
		}
	}
}

package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

// containerState is runc's `state` and `list --format json` output: the
// spec's state plus rootfs, created and owner.
type containerState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func stateOf(c *libcontainer.Container) containerState {
	st := c.OCIState()
	return containerState{
		OCIVersion: st.Version, ID: st.ID, Pid: st.Pid, Status: string(st.Status),
		Bundle: st.Bundle, Rootfs: c.State.Rootfs, Created: c.State.Created,
		Annotations: st.Annotations,
	}
}

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "print the state of a container as JSON",
	ArgsUsage: "<container-id>",
	Action: func(ctx *cli.Context) error {
		id, err := requireID(ctx)
		if err != nil {
			return err
		}
		c, err := libcontainer.Peek(ctx.String("root"), id)
		if err != nil {
			return containerError(ctx, id, err)
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(stateOf(c))
	},
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes running in a container",
	ArgsUsage: "<container-id> [ps options]",
	Description: `Lists the processes in the container's cgroup: as a JSON array of host
pids with --format json, or else the lines of the host's ps (run with the
given options, default -ef) that belong to the container.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 {
			return fmt.Errorf("ps: expected a container ID, got no arguments")
		}
		id := ctx.Args().First()
		format := ctx.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("--format %q: expected table or json", format)
		}
		c, err := libcontainer.Peek(ctx.String("root"), id)
		if err != nil {
			return containerError(ctx, id, err)
		}
		pids, err := c.Processes()
		if err != nil {
			return containerError(ctx, id, err)
		}
		if format == "json" {
			// No processes (a stopped container) is null, as runc prints.
			return json.NewEncoder(os.Stdout).Encode(pids)
		}
		psArgs := ctx.Args().Tail()
		if len(psArgs) == 0 {
			psArgs = []string{"-ef"}
		}
		out, err := exec.Command("ps", psArgs...).Output()
		if err != nil {
			return containerError(ctx, id, fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err))
		}
		return filterPs(os.Stdout, out, pids)
	},
}

// filterPs prints ps's header and the lines whose PID column is one of pids.
func filterPs(w *os.File, out []byte, pids []int) error {
	lines := strings.Split(string(bytes.TrimRight(out, "\n")), "\n")
	col := slices.Index(strings.Fields(lines[0]), "PID")
	if col < 0 {
		return fmt.Errorf("ps: its output has no PID column (header %q)", lines[0])
	}
	fmt.Fprintln(w, lines[0])
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if col >= len(f) {
			continue
		}
		if pid, err := strconv.Atoi(f[col]); err == nil && slices.Contains(pids, pid) {
			fmt.Fprintln(w, line)
		}
	}
	return nil
}

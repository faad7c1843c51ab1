package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/moby/sys/user"
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list the containers under --root",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the IDs"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 0 {
			return fmt.Errorf("list: expected no arguments, got %d", ctx.NArg())
		}
		format := ctx.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("--format: unknown format %q (expected table or json)", format)
		}
		root := ctx.String("root")
		entries, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--root %s: %w", root, err)
		}
		// Nil, not empty: runc prints "null" for no containers.
		var states []containerState
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			c, err := libcontainer.Peek(root, e.Name())
			if err != nil {
				continue // removed while we looked, or not a container
			}
			st := stateOf(c)
			st.Owner = ownerOf(e)
			states = append(states, st)
		}
		switch {
		case ctx.Bool("quiet"):
			for _, s := range states {
				fmt.Println(s.ID)
			}
		case format == "json":
			return json.NewEncoder(os.Stdout).Encode(states)
		default:
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		}
		return nil
	},
}

// ownerOf names the user owning a state directory, as runc's list does.
func ownerOf(e os.DirEntry) string {
	fi, err := e.Info()
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	// moby/sys/user reads /etc/passwd itself: os/user would pull glibc's
	// NSS into the static binary.
	if u, err := user.LookupUid(int(st.Uid)); err == nil {
		return u.Name
	}
	return "#" + strconv.Itoa(int(st.Uid))
}

//go:build strata_image

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/image"
)

var bundleLsCommand = &cli.Command{
	Name:  "ls",
	Usage: "list the bundles using the store (with --layers, its layers and the bundles using each)",
	Flags: []cli.Flag{
		storeFlag,
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "layers", Usage: "list the store's layers and which bundles use each"},
	},
	Action: func(ctx *cli.Context) error {
		format := ctx.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("bundle ls: --format: unknown format %q (expected table or json)", format)
		}
		store := ctx.String("store")
		entries, err := bundle.List(store)
		missing := errors.Is(err, image.ErrNoStore)
		if err != nil && !missing {
			return err
		}
		var layers []bundle.LayerUse
		if ctx.Bool("layers") && !missing {
			if layers, err = bundle.ListLayers(store, entries); err != nil {
				return err
			}
		}
		if missing && format == "table" {
			fmt.Fprintf(os.Stderr, "%v: no bundles\n", err)
		}
		switch {
		case format == "json" && ctx.Bool("layers"):
			return printJSON(layerRows(layers))
		case format == "json":
			return printJSON(bundleRows(entries))
		case ctx.Bool("layers"):
			return printLayerTable(layers)
		}
		return printBundleTable(entries)
	},
}

// bundleRow is one bundle in `bundle ls --format json`, named as runc's
// `list --format json` names its fields.
type bundleRow struct {
	Bundle   string     `json:"bundle"`
	Image    string     `json:"image,omitempty"`
	Platform string     `json:"platform,omitempty"`
	Manifest string     `json:"manifest,omitempty"`
	Layers   []string   `json:"layers"` // diff IDs, bottom first
	State    string     `json:"state"`
	Created  *time.Time `json:"created,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// layerRow is one layer in `bundle ls --layers --format json`.
type layerRow struct {
	Layer   string   `json:"layer"`
	Bundles []string `json:"bundles"`
}

func bundleRows(entries []bundle.Entry) []bundleRow {
	rows := make([]bundleRow, 0, len(entries)) // [] rather than null for none
	for _, e := range entries {
		r := bundleRow{Bundle: e.Dir, Layers: []string{}, State: bundleState(e)}
		if e.Record == nil {
			r.Error = e.Err.Error()
		} else {
			r.Image, r.Platform, r.Manifest = e.Record.Image, e.Record.Platform, e.Record.Manifest.String()
			r.Created = &e.Record.Created
			for _, d := range e.Record.Layers {
				r.Layers = append(r.Layers, d.String())
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func layerRows(layers []bundle.LayerUse) []layerRow {
	rows := make([]layerRow, 0, len(layers))
	for _, l := range layers {
		rows = append(rows, layerRow{Layer: l.DiffID.String(), Bundles: append([]string{}, l.Bundles...)})
	}
	return rows
}

// bundleState is "mounted", "unmounted", "copy" (a --copy bundle, nothing
// to mount), "rootless" (a normal user's, mounted by each container's init)
// or "stale" (no readable record: gc forgets it).
func bundleState(e bundle.Entry) string {
	switch {
	case e.Record == nil:
		return "stale"
	case e.Record.Copy:
		return "copy"
	case e.Record.Rootless:
		return "rootless"
	case e.Mounted:
		return "mounted"
	}
	return "unmounted"
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printBundleTable(entries []bundle.Entry) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "BUNDLE\tIMAGE\tLAYERS\tSTATE")
	for _, e := range entries {
		if e.Record == nil {
			fmt.Fprintf(w, "%s\t-\t-\tstale: %v\n", e.Dir, e.Err)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", e.Dir, e.Record.Image, len(e.Record.Layers), bundleState(e))
	}
	return w.Flush()
}

func printLayerTable(layers []bundle.LayerUse) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "LAYER\tBUNDLES")
	for _, l := range layers {
		users := "-" // gc removes it
		if len(l.Bundles) > 0 {
			users = strings.Join(l.Bundles, ",")
		}
		fmt.Fprintf(w, "%s\t%s\n", l.DiffID, users)
	}
	return w.Flush()
}

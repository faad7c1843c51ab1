//go:build strata_image

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer"
)

// The flags checkpoint and restore share, spelled and explained as runc's.
var criuFlags = []cli.Flag{
	&cli.StringFlag{Name: "work-path", Usage: "path for saving work files and logs"},
	&cli.BoolFlag{Name: "tcp-established", Usage: "allow open tcp connections"},
	&cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow external unix sockets"},
	&cli.BoolFlag{Name: "shell-job", Usage: "allow shell jobs"},
	&cli.BoolFlag{Name: "file-locks", Usage: "handle file locks, for safety"},
	&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "cgroups mode: soft (default), full, strict or ignore"},
	&cli.StringSliceFlag{Name: "empty-ns", Usage: "create a namespace, but don't restore its properties (network)"},
	&cli.BoolFlag{Name: "auto-dedup", Usage: "enable auto deduplication of memory images"},
	&cli.BoolFlag{Name: "lazy-pages", Usage: "use userfaultfd to lazily restore memory pages (not supported: refused)"},
}

// criuOptions reads the shared flags. Paths are made absolute here: restore
// works from the bundle directory.
func criuOptions(ctx *cli.Context) (libcontainer.CriuOpts, error) {
	o := libcontainer.CriuOpts{
		Binary:         ctx.String("criu"),
		TCPEstablished: ctx.Bool("tcp-established"),
		ExtUnixSk:      ctx.Bool("ext-unix-sk"),
		ShellJob:       ctx.Bool("shell-job"),
		FileLocks:      ctx.Bool("file-locks"),
		AutoDedup:      ctx.Bool("auto-dedup"),
		CgroupsMode:    ctx.String("manage-cgroups-mode"),
	}
	if ctx.Bool("lazy-pages") {
		return o, fmt.Errorf("--lazy-pages: not supported by strata (lazy migration needs CRIU's page server and userfaultfd handling, which strata does not drive)")
	}
	if err := o.Validate(); err != nil {
		return o, err
	}
	// As runc: the image directory defaults to ./checkpoint.
	images := ctx.String("image-path")
	if images == "" {
		images = "checkpoint"
	}
	var err error
	if o.ImagePath, err = filepath.Abs(images); err != nil {
		return o, fmt.Errorf("--image-path: %w", err)
	}
	if w := ctx.String("work-path"); w != "" {
		if o.WorkPath, err = filepath.Abs(w); err != nil {
			return o, fmt.Errorf("--work-path: %w", err)
		}
	}
	// As runc: the network namespace is always made empty (strata does not
	// manage network devices, so it has none of their configuration to
	// give back); --empty-ns names more, and runc knows only "network".
	o.EmptyNs = unix.CLONE_NEWNET
	for _, ns := range ctx.StringSlice("empty-ns") {
		if ns != "network" {
			return o, fmt.Errorf("--empty-ns %q: only \"network\" is supported", ns)
		}
	}
	return o, nil
}

// requireRoot refuses what CRIU cannot do without root.
func requireRoot(cmd string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s: needs root (CRIU does not checkpoint or restore containers unprivileged)", cmd)
	}
	return nil
}

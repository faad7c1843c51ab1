//go:build strata_image

package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/image"
)

var insecureRegistryFlag = &cli.StringSliceFlag{
	Name:  "insecure-registry",
	Usage: "HOST[:PORT] of a registry that may be reached over plain HTTP or with an unverified certificate (repeatable; loopback registries need none)",
}

var pullCommand = &cli.Command{
	Name:  "pull",
	Usage: pullUsage,
	Description: `Resolves docker://HOST/REPO[:TAG|@sha256:HEX] (choosing from a manifest list or
OCI index by --platform), then fetches the layers the store lacks, several at
once, each unpacked as it streams and kept only once its digests check.
Credentials come from ~/.docker/config.json and
$XDG_RUNTIME_DIR/containers/auth.json. An interrupted pull keeps the layers it
finished; the next one fetches the rest. Prints the manifest digest.
The layers stay until 'strata bundle gc' finds no bundle using them.`,
	ArgsUsage: "docker://HOST/REPO[:TAG|@DIGEST]",
	Flags: []cli.Flag{
		storeFlag,
		&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pick from a manifest list or index (default: the host's)"},
		insecureRegistryFlag,
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 1 {
			return fmt.Errorf("pull: expected one image reference (docker://HOST/REPO[:TAG]), got %q", ctx.Args().Slice())
		}
		ref, err := parseImageRef(ctx, ctx.Args().First())
		if err != nil {
			return err
		}
		if ref.Transport != image.Docker {
			return fmt.Errorf("pull: %s is not a registry reference (expected docker://HOST/REPO[:TAG]); local images need no pull", ref)
		}
		res, err := bundle.Pull(bundle.PullOptions{
			Image:    ref,
			Platform: ctx.String("platform"),
			Store:    ctx.String("store"),
			Progress: stderrProgress(),
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: %d layers fetched, %d already in the store %s\n", ref, res.Fetched, res.Present, ctx.String("store"))
		fmt.Println(res.Manifest)
		return nil
	},
}

// parseImageRef parses an image reference, marking a docker:// one insecure
// when its registry is named by --insecure-registry.
func parseImageRef(ctx *cli.Context, s string) (image.Ref, error) {
	ref, err := image.ParseRef(s)
	if err != nil {
		return ref, err
	}
	ref.Insecure = ref.Transport == image.Docker && slices.Contains(ctx.StringSlice("insecure-registry"), ref.RegistryHost())
	return ref, nil
}

// stderrProgress draws live progress when stderr is a terminal, and writes
// a line per layer otherwise.
func stderrProgress() *bundle.Progress {
	return &bundle.Progress{W: os.Stderr, Live: term.IsTerminal(int(os.Stderr.Fd()))}
}

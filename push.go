//go:build strata_image

package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/image"
)

var pushCommand = &cli.Command{
	Name:  "push",
	Usage: pushUsage,
	Description: `Reads SRC, an OCI layout (oci:DIR[:TAG]), an oci-archive (oci-archive:FILE[:TAG])
or a docker save archive (docker-archive:FILE[:NAME:TAG]), and writes it to
docker://HOST/REPO[:TAG]. From an image index, the manifest for --platform (the
host's by default) is pushed. Blobs the repository already has are not sent
again. Credentials, and which registries may be reached over plain HTTP, are
as for strata pull. Prints the manifest digest.`,
	ArgsUsage: "SRC docker://HOST/REPO[:TAG]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pick from an image index (default: the host's)"},
		insecureRegistryFlag,
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 2 {
			return fmt.Errorf("push: expected SRC and docker://HOST/REPO[:TAG], got %q", ctx.Args().Slice())
		}
		src, err := image.ParseRef(ctx.Args().Get(0))
		if err != nil {
			return fmt.Errorf("push: SRC: %w", err)
		}
		if src.Transport == image.Docker {
			return fmt.Errorf("push: SRC %s is a registry reference; expected a local image (oci:, oci-archive: or docker-archive:)", src)
		}
		dest, err := parseImageRef(ctx, ctx.Args().Get(1))
		if err != nil {
			return fmt.Errorf("push: destination: %w", err)
		}
		if dest.Transport != image.Docker {
			return fmt.Errorf("push: destination %s is not a registry reference (expected docker://HOST/REPO[:TAG])", dest)
		}
		img, err := image.Open(src, ctx.String("platform"))
		if err != nil {
			return err
		}
		defer img.Close()
		res, err := image.Push(img, dest, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: %d blobs uploaded, %d skipped (already in the registry)\n", dest, res.Uploaded, res.Skipped)
		fmt.Println(res.Manifest)
		return nil
	},
}

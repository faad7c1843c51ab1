//go:build strata_image

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/build"
)

var buildCommand = interspersed(&cli.Command{
	Name:      "build",
	Usage:     buildUsage,
	ArgsUsage: "CONTEXT",
	Description: `Runs the Containerfile's instructions on the image FROM names (docker://,
oci:DIR:TAG, oci-archive:, docker-archive:, scratch or an earlier stage):
RUN in a strata container made from the layers so far (network off unless
--network host), COPY and ADD from CONTEXT (less .dockerignore). Each RUN,
COPY and ADD becomes a layer; the other instructions change the config.
Steps are cached in the store's build-cache by parent chain, instruction,
build arguments and the content COPY and ADD read: a rebuild with nothing
changed runs nothing and gives the same image digest. -t docker://... pushes
the image as strata push does. Prints the manifest digest.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile)"},
		&cli.StringFlag{Name: "tag", Aliases: []string{"t"}, Usage: "where the image goes (required): oci:DIR:TAG, oci-archive:FILE:TAG, docker-archive:FILE:NAME:TAG, or docker://HOST/REPO[:TAG] to push it (as strata push)"},
		&cli.StringSliceFlag{Name: "build-arg", Usage: "KEY=VALUE for an ARG of the Containerfile (repeatable)"},
		&cli.StringFlag{Name: "network", Value: "none", Usage: "network of RUN steps: none (loopback only) or host"},
		&cli.StringFlag{Name: "cgroup-parent", Usage: "cgroup (absolute) below which each RUN step's container gets its own (default: below strata's own)"},
		storeFlag,
		insecureRegistryFlag,
	},
	Action: func(ctx *cli.Context) error {
		if rootlessImage() {
			// Its steps' bundles and RUN containers would nest in the
			// store's user namespace, whose maps config.json cannot
			// name from inside it.
			return errors.New("build: needs root; as a normal user, strata bundle create, a container's changes and strata bundle commit make images instead")
		}
		if ctx.NArg() != 1 {
			return fmt.Errorf("build: expected one CONTEXT directory, got %q", ctx.Args().Slice())
		}
		if ctx.String("tag") == "" {
			return errors.New("build: -t/--tag is required (oci:DIR:TAG, oci-archive:FILE:TAG, docker-archive:FILE:NAME:TAG or docker://HOST/REPO[:TAG])")
		}
		target, err := parseImageRef(ctx, ctx.String("tag"))
		if err != nil {
			return fmt.Errorf("build: -t: %w", err)
		}
		args := map[string]string{}
		for _, a := range ctx.StringSlice("build-arg") {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				// As docker: a bare KEY takes its value from the environment.
				if v, ok = os.LookupEnv(a); !ok || a == "" {
					return fmt.Errorf("build: --build-arg %q: expected KEY=VALUE (or KEY set in the environment)", a)
				}
				k = a
			}
			args[k] = v
		}
		file, err := containerfile(ctx.String("file"), ctx.Args().First())
		if err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		res, err := build.Build(build.Options{
			File:               file,
			Context:            ctx.Args().First(),
			Target:             target,
			Store:              ctx.String("store"),
			BuildArgs:          args,
			Network:            ctx.String("network"),
			InsecureRegistries: ctx.StringSlice("insecure-registry"),
			CgroupParent:       ctx.String("cgroup-parent"),
			Runtime:            self,
			Out:                os.Stderr,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d steps, %d from the cache: %s\n", res.Steps, res.Cached, target)
		fmt.Println(res.Manifest.Digest)
		return nil
	},
})

// containerfile is -f, or CONTEXT's Containerfile, or its Dockerfile.
func containerfile(flag, context string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	for _, n := range []string{"Containerfile", "Dockerfile"} {
		p := filepath.Join(context, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("build: no Containerfile or Dockerfile in %s (give one with -f)", context)
}

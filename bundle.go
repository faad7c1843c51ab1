//go:build strata_image

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/image"
)

var storeFlag = &cli.StringFlag{Name: "store", Value: image.DefaultStore, Usage: "layer store directory (a normal user's: $XDG_DATA_HOME/strata or ~/.local/share/strata)"}

var bundleCommand = &cli.Command{
	Name:  "bundle",
	Usage: bundleUsage,
	Description: `Images are read from oci:DIR[:TAG] (an OCI image layout), oci-archive:FILE[:TAG],
docker-archive:FILE[:NAME:TAG] or a registry, docker://HOST/REPO[:TAG|@DIGEST]
(see strata pull). Layers are unpacked once into the store and composed with
overlayfs on BUNDLE/rootfs. A normal user's store and bundles are made in a
user namespace of the user's own (its subordinate ids, /etc/subuid), and the
rootfs is mounted by strata in the container's namespaces.`,
	// Before the subcommand's flags are read: it runs again, whole, there.
	Before: func(*cli.Context) error { return enterUserNamespace() },
	Subcommands: []*cli.Command{
		interspersed(bundleCreateCommand),
		interspersed(bundleRmCommand),
		bundleLsCommand,
		bundleGCCommand,
		bundleMountCommand,
		interspersed(bundleDiffCommand),
		interspersed(bundleCommitCommand),
	},
}

// interspersed lets a command take its flags after its positional argument,
// as in `strata bundle create BUNDLE --image REF -- ARGS`: urfave/cli v2
// stops parsing flags at the first positional one. The returned command
// takes its arguments raw, moves the flags (up to "--") to the front, and
// runs cmd on them. It runs at package initialisation, which every strata
// start pays for, so the flag table is made only when the command runs.
func interspersed(cmd *cli.Command) *cli.Command {
	outer := *cmd
	outer.SkipFlagParsing = true
	outer.Action = func(ctx *cli.Context) error {
		valued := flagArity(cmd.Flags)
		var flags, positional []string
		args := ctx.Args().Slice()
		for i := 0; i < len(args); i++ {
			a := args[i]
			switch {
			case a == "--":
				positional = append(positional, args[i:]...)
				i = len(args)
			case strings.HasPrefix(a, "-") && a != "-":
				flags = append(flags, a)
				name := strings.TrimLeft(a, "-")
				if !strings.Contains(name, "=") && valued[name] && i+1 < len(args) {
					i++
					flags = append(flags, args[i])
				}
			default:
				positional = append(positional, a)
			}
		}
		return cmd.Run(ctx, append(append([]string{cmd.Name}, flags...), positional...)...)
	}
	return &outer
}

// splitArgs separates BUNDLE from the container arguments after "--".
func splitArgs(ctx *cli.Context) (positional, after []string) {
	args := ctx.Args().Slice()
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

var bundleCreateCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a bundle from an image",
	ArgsUsage: "[IMAGE] BUNDLE [-- ARGS...]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "image", Usage: "image reference, unless given as the first argument: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://HOST/REPO[:TAG|@DIGEST]"},
		storeFlag,
		&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pick from an image index (default: the host's)"},
		insecureRegistryFlag,
		&cli.BoolFlag{Name: "copy", Usage: "flatten the layers into a plain rootfs instead of an overlay"},
		&cli.StringFlag{Name: "hostname", Usage: "container hostname"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set KEY=VALUE in the environment (repeatable)"},
		&cli.BoolFlag{Name: "readonly", Usage: "make the container's root filesystem read-only"},
		&cli.StringFlag{Name: "net", Value: "none", Usage: "network: none (own namespace, loopback only) or host"},
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a capability to podman's default set (CHOWN or CAP_CHOWN; ALL for every one; repeatable)"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a capability from the default set (ALL for every one; repeatable)"},
		&cli.BoolFlag{Name: "no-new-privileges", Usage: "set process.noNewPrivileges: setuid programs gain nothing"},
		&cli.StringFlag{Name: "cgroups-path", Usage: "linux.cgroupsPath (absolute, or the container lands below the runtime caller's cgroup)"},
		&cli.StringSliceFlag{Name: "uidmap", Usage: "CONTAINER:HOST:SIZE: give the container a user namespace with this uid range (repeatable); the layers are mounted idmapped so its root owns the rootfs (Linux 5.19+)"},
		&cli.StringSliceFlag{Name: "gidmap", Usage: "CONTAINER:HOST:SIZE gid range of the user namespace (repeatable; default: the --uidmap ranges)"},
	},
	Action: func(ctx *cli.Context) error {
		positional, args := splitArgs(ctx)
		imageArg, err := createImageArg(ctx, positional)
		if err != nil {
			return err
		}
		positional = positional[len(positional)-1:]
		ref, err := parseImageRef(ctx, imageArg)
		if err != nil {
			return fmt.Errorf("bundle create: %w", err)
		}
		uids, err := bundle.ParseIDMaps("uidmap", ctx.StringSlice("uidmap"))
		if err != nil {
			return fmt.Errorf("bundle create: %w", err)
		}
		gids, err := bundle.ParseIDMaps("gidmap", ctx.StringSlice("gidmap"))
		if err != nil {
			return fmt.Errorf("bundle create: %w", err)
		}
		start := time.Now()
		_, err = bundle.Create(bundle.CreateOptions{
			Bundle:   positional[0],
			Image:    ref,
			Platform: ctx.String("platform"),
			Store:    ctx.String("store"),
			Copy:     ctx.Bool("copy"),
			Spec: bundle.SpecOptions{
				Args:            args,
				Env:             ctx.StringSlice("env"),
				Hostname:        ctx.String("hostname"),
				Readonly:        ctx.Bool("readonly"),
				Net:             ctx.String("net"),
				CapAdd:          ctx.StringSlice("cap-add"),
				CapDrop:         ctx.StringSlice("cap-drop"),
				NoNewPrivileges: ctx.Bool("no-new-privileges"),
				CgroupsPath:     ctx.String("cgroups-path"),
				UIDMappings:     uids,
				GIDMappings:     gids,
			},
			Debugf:   log.Debugf,
			Progress: stderrProgress(),
		})
		log.Debugf("bundle create %s took %v", positional[0], time.Since(start))
		return err
	},
}

// createImageArg finds the image of `bundle create`: either the first of
// two arguments (`bundle create docker://HOST/REPO:TAG BUNDLE`, as skopeo and
// podman put the image first) or --image with BUNDLE alone, never both.
func createImageArg(ctx *cli.Context, positional []string) (string, error) {
	flag := ctx.String("image")
	switch {
	case len(positional) == 2 && flag != "":
		return "", fmt.Errorf("bundle create: image given twice, as %q and as --image %q; give one", positional[0], flag)
	case len(positional) == 2:
		if !hasTransport(positional[0]) {
			return "", fmt.Errorf("bundle create: first argument %q: expected an image reference with its transport (oci:, oci-archive:, docker-archive: or docker://) before BUNDLE", positional[0])
		}
		return positional[0], nil
	case len(positional) == 1 && flag != "":
		return flag, nil
	case len(positional) == 1 && hasTransport(positional[0]):
		return "", fmt.Errorf("bundle create: %q is an image; expected BUNDLE after it", positional[0])
	case len(positional) == 1:
		return "", errors.New("bundle create: no image: give it before BUNDLE (docker://HOST/REPO:TAG BUNDLE) or as --image")
	}
	return "", fmt.Errorf("bundle create: expected [IMAGE] BUNDLE before --, got %q", positional)
}

// hasTransport reports whether s starts like an image reference,
// TRANSPORT:... or SCHEME://...; ParseRef says whether it knows the transport.
func hasTransport(s string) bool {
	t, _, ok := strings.Cut(s, ":")
	return ok && t != "" && !strings.Contains(t, "/")
}

var bundleGCCommand = &cli.Command{
	Name:  "gc",
	Usage: "remove the layers no bundle uses",
	Flags: []cli.Flag{storeFlag},
	Action: func(ctx *cli.Context) error {
		removed, err := bundle.GC(ctx.String("store"))
		if errors.Is(err, image.ErrNoStore) {
			fmt.Fprintf(os.Stderr, "%v: nothing to collect\n", err)
			return nil
		}
		for _, d := range removed {
			fmt.Println("removed layer", d)
		}
		return err
	},
}

var bundleMountCommand = &cli.Command{
	Name:      "mount",
	Usage:     "mount a bundle's overlay again (after a reboot)",
	ArgsUsage: "BUNDLE",
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 1 {
			return errors.New("bundle mount: expected one BUNDLE argument")
		}
		return bundle.Mount(ctx.Args().First())
	},
}

var compressFlag = &cli.StringFlag{Name: "compress", Value: "gzip", Usage: "layer compression: gzip, zstd or none"}

var bundleDiffCommand = &cli.Command{
	Name:      "diff",
	Usage:     "write a bundle's changes as an OCI layer tar",
	ArgsUsage: "BUNDLE",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "layer file to write (required; - for standard output)"},
		compressFlag,
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 1 {
			return errors.New("bundle diff: expected one BUNDLE argument")
		}
		if ctx.String("output") == "" {
			return errors.New("bundle diff: -o/--output is required")
		}
		c, err := image.ParseCompression(ctx.String("compress"))
		if err != nil {
			return err
		}
		var blob image.DiffBlob
		summary := os.Stdout
		if out := ctx.String("output"); out == "-" {
			// As `docker save`: binary data on a terminal helps no one.
			if term.IsTerminal(int(os.Stdout.Fd())) {
				return errors.New("bundle diff: -o -: standard output is a terminal; redirect it to a file or a pipe")
			}
			summary = os.Stderr // standard output is the layer
			blob, err = bundle.DiffTo(ctx.Args().First(), os.Stdout, c)
		} else {
			blob, err = bundle.Diff(ctx.Args().First(), out, c)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(summary, "%s diff_id=%s size=%d\n", blob.Descriptor.Digest, blob.DiffID, blob.Descriptor.Size)
		return nil
	},
}

var bundleCommitCommand = &cli.Command{
	Name:      "commit",
	Usage:     "write a bundle's changes as a new image in an OCI layout",
	ArgsUsage: "BUNDLE",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "image", Usage: "target oci:DIR:TAG (required)"},
		&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "history comment for the new layer"},
		compressFlag,
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 1 {
			return errors.New("bundle commit: expected one BUNDLE argument")
		}
		ref, err := image.ParseRef(ctx.String("image"))
		if err != nil {
			return fmt.Errorf("bundle commit: --image: %w", err)
		}
		if ref.Transport != image.OCILayout || ref.Tag == "" || strings.Contains(ref.Tag, ":") {
			return fmt.Errorf("--image %q: commit writes to oci:DIR:TAG", ctx.String("image"))
		}
		c, err := image.ParseCompression(ctx.String("compress"))
		if err != nil {
			return err
		}
		m, err := bundle.Commit(bundle.CommitOptions{Bundle: ctx.Args().First(), Target: ref, Message: ctx.String("message"), Compress: c})
		if err != nil {
			return err
		}
		fmt.Println(m.Digest)
		return nil
	},
}

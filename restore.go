//go:build strata_image

package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer"
)

var restoreCommand = &cli.Command{
	Name:      "restore",
	Usage:     restoreUsage,
	ArgsUsage: "<container-id>",
	Description: `Makes a container from the bundle (as create does) and has CRIU run in it
the processes "strata checkpoint" (or runc's) saved in --image-path, by
default ./checkpoint. In the foreground it waits for the container and exits
with its status (128+N when signal N killed it), then deletes it; with
--detach it returns once the container runs.`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
		&cli.StringFlag{Name: "image-path", Usage: "path to criu image files for restoring"},
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "path to the root of the bundle directory (default: the current directory)"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the container's process"},
		&cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "disable the use of the subreaper used to reap reparented processes"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "not supported by restore (refused): CRIU always enters the rootfs with pivot_root"},
		&cli.StringFlag{Name: "lsm-profile", Usage: "Specify an LSM profile to be used during restore in the form of TYPE:NAME."},
		&cli.StringFlag{Name: "lsm-mount-context", Usage: "Specify an LSM mount context to be used during restore."},
	}, criuFlags...),
	Action: func(ctx *cli.Context) error {
		id, err := requireID(ctx)
		if err != nil {
			return err
		}
		if err := requireRoot("restore"); err != nil {
			return err
		}
		return containerError(ctx, id, restoreContainer(ctx, id))
	},
}

func restoreContainer(ctx *cli.Context, id string) error {
	if ctx.Bool("no-pivot") {
		return errors.New("--no-pivot: not supported by restore: CRIU enters the restored rootfs with pivot_root, whatever the flag says")
	}
	// CRIU is given a cgroupfs cgroup to restore into (criu_restore_linux.go);
	// a scope systemd would make is not wired in yet.
	if ctx.Bool("systemd-cgroup") {
		return errors.New("--systemd-cgroup: not supported by restore yet: the restored container gets a cgroupfs cgroup; omit the flag")
	}
	co, err := criuOptions(ctx)
	if err != nil {
		return err
	}
	// Relative paths name places from where strata was started, before
	// it moves to the bundle.
	pidFile, err := absFlag(ctx, "pid-file")
	if err != nil {
		return err
	}
	socket, err := absFlag(ctx, "console-socket")
	if err != nil {
		return err
	}
	bundle, spec, err := enterBundle(ctx)
	if err != nil {
		return err
	}
	// CRIU restores the seccomp filter itself; compiled here for the
	// processes exec'd into the container later (the cache is theirs).
	if _, _, err := libcontainer.CompileSeccomp(ctx.String("root"), spec); err != nil {
		return err
	}
	detach := ctx.Bool("detach")
	relay, err := catchSignals(detach)
	if err != nil {
		return err
	}
	cons, err := newConsole(spec.Process.Terminal, socket, detach)
	if err != nil {
		return err
	}
	// As runc: strata reaps what the container's processes leave to it
	// (the restored init is its child: CRIU forks it as its sibling).
	if !ctx.Bool("no-subreaper") {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			cons.close()
			return fmt.Errorf("become a child subreaper: %w", err)
		}
	}
	root := ctx.String("root")
	c, p, err := libcontainer.Restore(root, libcontainer.RestoreOpts{
		CriuOpts: co, ID: id, Bundle: bundle, Spec: spec, Console: cons.passFile(),
		LsmProfile: ctx.String("lsm-profile"), LsmMountContext: ctx.String("lsm-mount-context"),
	})
	if err != nil {
		cons.close()
		return err
	}
	cons.handedOver()
	if pidFile != "" {
		if err := writePidFile(pidFile, p.Pid); err != nil {
			c.Destroy(true)
			return err
		}
	}
	if detach {
		c.Close()
		return nil
	}
	done, err := cons.proxy()
	if err != nil {
		c.Destroy(true)
		return err
	}
	defer done()
	// The lock is not held while the container runs: kill, pause and
	// delete from other shells must not wait for it to exit.
	c.Close()
	code, err := relay.waitFor(p.Pid, p.Wait)
	if err != nil {
		return err
	}
	// Deleted as `run` deletes, unless another command did it meanwhile.
	if err := destroyAfterRun(c); err != nil {
		log.Errorf("%s", containerError(ctx, id, err))
	}
	return &exitError{code}
}

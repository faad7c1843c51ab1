package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
	"github.com/strata-runtime/strata/libcontainer/specconv"
)

// Flags shared by create and run, spelled as runc spells them.
var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: "", Usage: "path to the root of the bundle directory (default: the current directory)"},
	&cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive the pty master"},
	&cli.StringFlag{Name: "pid-file", Usage: "file to write the container init's host pid to"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot_root (for a rootfs on ramfs)"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring for the container"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass N additional file descriptors (3 .. 3+N-1) to the container"},
}

// requireID returns the single container ID argument.
func requireID(ctx *cli.Context) (string, error) {
	if ctx.NArg() != 1 {
		return "", fmt.Errorf("%s: expected exactly one container ID, got %d arguments", ctx.Command.Name, ctx.NArg())
	}
	id := ctx.Args().First()
	return id, containerError(ctx, id, libcontainer.ValidateID(id))
}

// containerError is where the rule for error prefixes is applied (see
// libcontainer's package comment): every error of a command on a container,
// once the ID is known, is prefixed here, once, with the command and the
// container, `kill container "x": status is stopped (...)`; what comes
// after the prefix (libcontainer's errors, the flag at fault) names neither.
// Usage errors (argument counts, a malformed flag read before the ID) keep
// the command's name alone. A process's exit status passes through.
func containerError(ctx *cli.Context, id string, err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return fmt.Errorf("%s container %q: %w", containerOp(ctx.Command.Name), id, err)
}

// containerOp is how an error names the command: its name, or for a command
// that is not a verb on the container, the name with a preposition.
func containerOp(cmd string) string {
	switch cmd {
	case "exec":
		return "exec in"
	case "state", "ps", "events":
		return cmd + " of"
	}
	return cmd
}

// onContainer runs fn on the container named by the command's single ID
// argument, holding its lock: the shape of every mutating command.
func onContainer(ctx *cli.Context, fn func(*libcontainer.Container) error) error {
	id, err := requireID(ctx)
	if err != nil {
		return err
	}
	c, err := libcontainer.Load(ctx.String("root"), id)
	if err != nil {
		return containerError(ctx, id, err)
	}
	defer c.Close()
	return containerError(ctx, id, fn(c))
}

// createContainer loads and validates the bundle and creates the container:
// the part create and run share. relay is the foreground run's (nil for
// create and a detached run). Its errors are the caller's to prefix.
func createContainer(ctx *cli.Context, id string, relay *signalRelay) (*libcontainer.Container, *libcontainer.InitProcess, *console, error) {
	detach := relay == nil
	if err := libcontainer.ValidateID(id); err != nil {
		return nil, nil, nil, err
	}
	// Before the chdir below: a relative --pid-file names a file in the
	// caller's working directory, as in runc.
	pidFile, err := absFlag(ctx, "pid-file")
	if err != nil {
		return nil, nil, nil, err
	}
	bundle, spec, err := enterBundle(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if rootless {
		if err := checkRootless(spec, ctx.Bool("systemd-cgroup")); err != nil {
			return nil, nil, nil, err
		}
	}
	// Compiled here, before anything is made, and only on a cache miss.
	filter, warnings, err := libcontainer.CompileSeccomp(ctx.String("root"), spec)
	if err != nil {
		return nil, nil, nil, err
	}
	// Unknown syscall names are normal (one profile serves many kernels):
	// debug level, as runc logs them.
	for _, w := range warnings {
		log.Debugf("%s", w)
	}
	n, err := preserveFDs(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	cons, err := newConsole(spec.Process.Terminal, ctx.String("console-socket"), detach)
	if err != nil {
		return nil, nil, nil, err
	}
	opts := libcontainer.CreateOpts{
		Console: cons.passFile(),
		ID:      id, Bundle: bundle, Spec: spec, PreserveFDs: n,
		NoPivot: ctx.Bool("no-pivot"), NoNewKeyring: ctx.Bool("no-new-keyring"),
		Warn: func(msg string) { log.Warnf("%s", msg) },
		// What the init skips is ambient capabilities it could not raise.
		// runc's own default config.json lists ambient ones without
		// inheritable ones and runc says nothing of them, so a warning
		// would only be noise on every run of such a bundle: debug level.
		Note:          func(msg string) { log.Debugf("%s", msg) },
		Seccomp:       filter,
		SystemdCgroup: ctx.Bool("systemd-cgroup"),
		Rootless:      rootless,
	}
	if log.debug {
		opts.Timing = func(phase string, d time.Duration) {
			log.Debugf("container %s: %s took %v", id, phase, d)
		}
	}
	c, p, err := libcontainer.Create(ctx.String("root"), opts)
	if err != nil {
		cons.close()
		return nil, nil, nil, err
	}
	cons.handedOver()
	if pidFile != "" {
		if err := writePidFile(pidFile, p.Pid); err != nil {
			cons.close()
			p.Detach()
			c.Destroy(true)
			return nil, nil, nil, err
		}
	}
	return c, p, cons, nil
}

// absFlag returns the path flag name made absolute against the working
// directory, or "" when it is not set.
func absFlag(ctx *cli.Context, name string) (string, error) {
	p := ctx.String(name)
	if p == "" {
		return "", nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("--%s %s: %w", name, p, err)
	}
	return abs, nil
}

// enterBundle makes --bundle absolute, changes into it (as runc: relative
// paths in config.json resolve against it and hooks start there) and loads
// and validates its config.json: what create and restore share.
func enterBundle(ctx *cli.Context) (string, *specs.Spec, error) {
	bundle := ctx.String("bundle")
	if bundle == "" {
		bundle = "."
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return "", nil, fmt.Errorf("--bundle: %w", err)
	}
	if err := os.Chdir(bundle); err != nil {
		return "", nil, fmt.Errorf("--bundle %s: %w", bundle, err)
	}
	spec, err := specconv.Load(bundle)
	if err != nil {
		return "", nil, err
	}
	if err := specconv.Validate(spec, bundle); err != nil {
		return "", nil, err
	}
	if err := libcontainer.ValidateAttributes(spec); err != nil {
		return "", nil, err
	}
	return bundle, spec, nil
}

// preserveFDs reads --preserve-fds.
func preserveFDs(ctx *cli.Context) (int, error) {
	n := ctx.Int("preserve-fds")
	if n < 0 {
		return 0, fmt.Errorf("--preserve-fds %d: must not be negative", n)
	}
	return n, nil
}

// writePidFile writes atomically: a reader (containerd's shim polls it)
// never sees an empty or partial file.
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

// warnHook logs a hook failure the spec treats as a warning and passes any
// other error on.
func warnHook(err error) error {
	var hw *libcontainer.HookWarning
	if errors.As(err, &hw) {
		log.Warnf("%s", hw.Err)
		return nil
	}
	return err
}

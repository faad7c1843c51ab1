package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
	"github.com/strata-runtime/strata/libcontainer/specconv"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a new process inside a container",
	ArgsUsage: "<container-id> <command> [args...]",
	Description: `Starts a process in every namespace of the container, with the
container's process attributes unless flags or --process override them. In
the foreground it exits with the process's status (128+N for signal N).`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive the pty master"},
		&cli.StringFlag{Name: "cwd", Usage: "current working directory in the container"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (KEY=VALUE)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "UID[:GID] to run as"},
		&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional gids"},
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "path to a process.json"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the process has started"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the process's host pid to"},
		&cli.StringFlag{Name: "process-label", Usage: "SELinux label for the process"},
		&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile for the process"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs for the process"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability to the bounding, effective and permitted sets"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass N additional file descriptors (3 .. 3+N-1) to the process"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "exec even if the container is paused"},
		&cli.StringSliceFlag{Name: "cgroup", Usage: "run the process in an existing sub-cgroup of the container's: [CONTROLLER[,CONTROLLER]:]PATH (repeatable)"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 {
			return fmt.Errorf("exec: expected a container ID and a command")
		}
		// As runc: 255 when exec itself fails, so that a caller can tell
		// it from the status of a process that ran.
		id := ctx.Args().First()
		return withCode(255, containerError(ctx, id, execIn(ctx, id)))
	},
}

// execIn runs the exec command's process in container id; its errors are
// the caller's to prefix.
func execIn(ctx *cli.Context, id string) error {
	detach := ctx.Bool("detach")
	relay, err := catchSignals(detach)
	if err != nil {
		return err
	}
	// Not locked: exec changes nothing in the container's state, and
	// a process exec'd into a paused container waits for a `resume`
	// that must be able to take the lock.
	c, err := libcontainer.Peek(ctx.String("root"), id)
	if err != nil {
		return err
	}
	proc, err := execProcess(ctx, c.State.Config)
	if err != nil {
		return err
	}
	n, err := preserveFDs(ctx)
	if err != nil {
		return err
	}
	cons, err := newConsole(proc.Terminal, ctx.String("console-socket"), detach)
	if err != nil {
		return err
	}
	sub, err := subCgroups(ctx.StringSlice("cgroup"))
	if err != nil {
		cons.close()
		return err
	}
	opts := libcontainer.ExecOpts{Process: proc, PreserveFDs: n, Console: cons.passFile(), IgnorePaused: ctx.Bool("ignore-paused"), SubCgroups: sub,
		Warn: func(msg string) { log.Warnf("%s", msg) }}
	if log.debug {
		opts.Timing = func(phase string, d time.Duration) { log.Debugf("exec in %s: %s took %v", id, phase, d) }
	}
	p, err := c.Exec(opts)
	if err != nil {
		cons.close()
		return err
	}
	cons.handedOver()
	if pf := ctx.String("pid-file"); pf != "" {
		if err := writePidFile(pf, p.Pid); err != nil {
			p.Detach()
			return err
		}
	}
	restore, err := cons.proxy()
	if err != nil {
		p.Detach()
		return err
	}
	defer restore()
	if err := p.ExecResult(); err != nil {
		p.Wait()
		return err
	}
	if detach {
		p.Detach()
		return nil
	}
	code, err := relay.waitFor(p.Pid, p.Wait)
	if err != nil {
		return err
	}
	return &exitError{code}
}

// execProcess builds the process to exec: --process as given, or the
// container's own process with the command and flags laid over it, as
// runc does.
func execProcess(ctx *cli.Context, spec *specs.Spec) (*specs.Process, error) {
	var p specs.Process
	if path := ctx.String("process"); path != "" {
		loaded, err := specconv.LoadProcess(path)
		if err != nil {
			return nil, err
		}
		p = *loaded
	} else {
		if ctx.NArg() < 2 {
			return nil, fmt.Errorf("exec: expected a command to run after the container ID")
		}
		if spec.Process != nil {
			p = *spec.Process
		}
		p.Args = ctx.Args().Slice()[1:]
		p.Terminal = ctx.Bool("tty")
		p.ConsoleSize = nil
		p.Env = overrideEnv(p.Env, ctx.StringSlice("env"))
		if cwd := ctx.String("cwd"); cwd != "" {
			p.Cwd = cwd
		}
		if u := ctx.String("user"); u != "" {
			uid, gid, err := parseUser(u)
			if err != nil {
				return nil, err
			}
			p.User.UID, p.User.GID = uid, gid
		}
		for _, g := range ctx.Int64Slice("additional-gids") {
			if g < 0 || g > 1<<32-1 {
				return nil, fmt.Errorf("--additional-gids %d: not a gid", g)
			}
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
		}
		if caps := ctx.StringSlice("cap"); len(caps) > 0 {
			p.Capabilities = withCaps(p.Capabilities, caps)
		}
		if ctx.Bool("no-new-privs") {
			p.NoNewPrivileges = true
		}
		if a := ctx.String("apparmor"); a != "" {
			p.ApparmorProfile = a
		}
		if l := ctx.String("process-label"); l != "" {
			p.SelinuxLabel = l
		}
	}
	if err := specconv.ValidateProcess(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// parseUser reads -u UID[:GID]; runc takes numbers only.
func parseUser(s string) (uid, gid uint32, err error) {
	us, gs, hasGID := strings.Cut(s, ":")
	u, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: expected UID[:GID] as numbers", s)
	}
	if !hasGID {
		return uint32(u), 0, nil
	}
	g, err := strconv.ParseUint(gs, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: expected UID[:GID] as numbers", s)
	}
	return uint32(u), uint32(g), nil
}

// withCaps adds capabilities to a copy of the sets --cap reaches.
func withCaps(c *specs.LinuxCapabilities, add []string) *specs.LinuxCapabilities {
	n := &specs.LinuxCapabilities{}
	if c != nil {
		*n = *c
	}
	n.Bounding = append(append([]string(nil), n.Bounding...), add...)
	n.Effective = append(append([]string(nil), n.Effective...), add...)
	n.Permitted = append(append([]string(nil), n.Permitted...), add...)
	return n
}

// overrideEnv is env with each of set (NAME=VALUE) in place of a variable
// of the same name, as runc does: exec -e PATH=... replaces the
// container's PATH rather than adding a second one.
func overrideEnv(env, set []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range set {
		name, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool {
			n, _, _ := strings.Cut(e, "=")
			return n == name
		})
		out = append(out, kv)
	}
	return out
}

// subCgroups parses exec --cgroup values: PATH (every controller) or
// CONTROLLER[,CONTROLLER]:PATH.
func subCgroups(values []string) (map[string]string, error) {
	sub := map[string]string{}
	for _, v := range values {
		ctrls, path, named := strings.Cut(v, ":")
		if !named {
			ctrls, path = "", v
		}
		if path == "" {
			return nil, fmt.Errorf("--cgroup %q: expected [CONTROLLER[,CONTROLLER]:]PATH", v)
		}
		for _, c := range strings.Split(ctrls, ",") {
			if _, dup := sub[c]; dup {
				return nil, fmt.Errorf("--cgroup %q: controller %q given twice", v, c)
			}
			sub[c] = path
		}
	}
	return sub, nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer/host"
)

// logger writes runc-compatible log lines. containerd's shim parses the json
// form ({"level":"error","msg":"...","time":"..."}) to report why a container
// failed, so the keys and level names must match runc's (logrus) exactly.
type logger struct {
	out   io.Writer
	json  bool
	debug bool
}

var log = &logger{out: os.Stderr}

func (l *logger) write(level, msg string) {
	now := time.Now()
	if l.json {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now.Format(time.RFC3339Nano)})
		fmt.Fprintf(l.out, "%s\n", b)
		return
	}
	fmt.Fprintf(l.out, "time=%q level=%s msg=%q\n", now.Format(time.RFC3339Nano), level, msg)
}

func (l *logger) Debugf(format string, args ...any) {
	if l.debug {
		l.write("debug", fmt.Sprintf(format, args...))
	}
}

func (l *logger) Warnf(format string, args ...any) { l.write("warning", fmt.Sprintf(format, args...)) }

func (l *logger) Errorf(format string, args ...any) { l.write("error", fmt.Sprintf(format, args...)) }

// setupGlobals validates the global flags and opens the log before any
// command runs, so that every later failure can be logged.
func setupGlobals(ctx *cli.Context) error {
	switch f := ctx.String("log-format"); f {
	case "text":
	case "json":
		log.json = true
	default:
		return fmt.Errorf("--log-format: unknown format %q (expected text or json)", f)
	}
	log.debug = ctx.Bool("debug")
	// As runc: a relative --root is the caller's, resolved before create
	// changes into the bundle.
	if root, err := filepath.Abs(rootDir(ctx)); err != nil {
		return fmt.Errorf("--root: %w", err)
	} else if err := ctx.Set("root", root); err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	if p := ctx.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		log.out = f
	}
	switch r := ctx.String("rootless"); r {
	case "auto":
		rootless = os.Geteuid() != 0 || host.InUserNamespace()
	case "false":
		// As runc: the caller says the cgroups are its to make.
	case "true":
		if os.Geteuid() == 0 {
			return errors.New("--rootless=true: strata is running as root; rootless mode is for unprivileged users")
		}
		rootless = true
	default:
		return fmt.Errorf("--rootless: invalid value %q (expected true, false or auto)", r)
	}
	return nil
}

// rootless is set by setupGlobals: strata runs unprivileged (--rootless,
// or auto as a user other than root), as runc decides it.
var rootless bool

// rootDir is --root, or for a rootless strata without one
// $XDG_RUNTIME_DIR/strata, as runc keeps its state in $XDG_RUNTIME_DIR/runc:
// an unprivileged user may not write /run/strata. So does root in a user
// namespace (rootless podman runs the runtime so) unless $USER says root,
// runc's rule.
func rootDir(ctx *cli.Context) string {
	xdg := os.Getenv("XDG_RUNTIME_DIR")
	if ctx.IsSet("root") || xdg == "" {
		return ctx.String("root")
	}
	if os.Geteuid() != 0 || (host.InUserNamespace() && os.Getenv("USER") != "root") {
		return filepath.Join(xdg, "strata")
	}
	return ctx.String("root")
}

// exitError carries a process exit status out of a command (run, exec) so
// that main exits with it without printing anything.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// codeError is a failure reported with an exit status other than 1.
type codeError struct {
	err  error
	code int
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// withCode makes a failure exit with code; a process's own exit status
// (exitError) and nil pass through unchanged.
func withCode(code int, err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &codeError{err, code}
}

// fatal reports err the way runc does: to the log (where the shim reads it)
// and, when the log is a file, also to stderr for a human caller.
func fatal(err error) {
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	code := 1
	var ce *codeError
	if errors.As(err, &ce) {
		code = ce.code
	}
	if log.out == os.Stderr && !log.json {
		// A person at a terminal: the message alone, no log decoration.
		fmt.Fprintf(os.Stderr, "strata: %s\n", err)
	} else {
		log.Errorf("%s", err.Error())
		fmt.Fprintf(os.Stderr, "strata: %s\n", err)
	}
	os.Exit(code)
}

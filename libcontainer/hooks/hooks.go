// Package hooks runs the OCI lifecycle hooks (createRuntime, createContainer,
// startContainer, poststart, poststop and the deprecated prestart): each hook
// gets the container's state as JSON on stdin, its own argv and environment,
// and an optional timeout.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maxOutput bounds how much of a failed hook's output goes into the error:
// the end of it, where the reason usually is.
const maxOutput = 4096

// waitDelay bounds how long Run waits, once a hook has exited or been killed,
// for the state JSON to be handed over on stdin.
const waitDelay = time.Second

// Run runs hooks in order, stopping at the first failure. kind is the name of
// the list in config.json ("prestart", "createRuntime", ...) and only serves
// the error messages, which read like
//
//	hooks.prestart[0] "/usr/bin/foo": exit status 1: <end of its output>
func Run(kind string, hooks []specs.Hook, state *specs.State) error {
	return run(kind, hooks, state, false)
}

// RunAll runs every hook even after failures, for the poststart and
// poststop hooks: the spec has the runtime log their failures and go on
// "as if the hook had succeeded". It returns the failures joined.
func RunAll(kind string, hooks []specs.Hook, state *specs.State) error {
	return run(kind, hooks, state, true)
}

func run(kind string, hooks []specs.Hook, state *specs.State, all bool) error {
	if len(hooks) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("hooks.%s: encode state: %w", kind, err)
	}
	var errs []error
	for i, h := range hooks {
		if err := runOne(h, data); err != nil {
			err = fmt.Errorf("hooks.%s[%d] %q: %w", kind, i, h.Path, err)
			if !all {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func runOne(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d: must be positive", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}

	// Output goes to a memfd, not a pipe: a hook that leaves a background
	// process holding its stdout or stderr (a poststart hook starting a daemon)
	// must not keep Run waiting for EOF.
	out, err := memfd("strata-hook-output")
	if err != nil {
		return err
	}
	defer out.Close()

	cmd := exec.CommandContext(ctx, h.Path)
	// Args as in execve: Args[0] is argv0 and need not be the path. Only an
	// empty Args defaults to the path.
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	// The environment is exactly the hook's: never the runtime's own, whose
	// variables (and secrets) the hook has no business seeing. A nil Env would
	// mean "inherit" to os/exec.
	cmd.Env = append([]string{}, h.Env...)
	cmd.Stdin = bytes.NewReader(state)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so a timeout kills whatever the hook started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	}
	cmd.WaitDelay = waitDelay

	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %ds", *h.Timeout)
	} else if errors.Is(err, exec.ErrWaitDelay) {
		// The hook exited fine but did not read its stdin: not a failure.
		return nil
	}
	if tail := tailOf(out); tail != "" {
		return fmt.Errorf("%w: %s", err, tail)
	}
	return err
}

func memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// tailOf returns the last maxOutput bytes written to f, trimmed.
func tailOf(f *os.File) string {
	size, err := f.Seek(0, 2)
	if err != nil {
		return ""
	}
	off := max(size-maxOutput, 0)
	buf := make([]byte, size-off)
	n, _ := f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf[:n]))
}

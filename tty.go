package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// console is how a process with terminal: true gets its pty to someone:
// the connection to --console-socket, or, for a foreground run or exec
// without one, a socketpair whose other end strata keeps to proxy the pty
// to its own stdio.
type console struct {
	pass *os.File // given to the init
	recv *os.File // kept by strata (foreground only)
}

// newConsole validates the combination as runc does and connects.
func newConsole(terminal bool, socketPath string, detach bool) (*console, error) {
	switch {
	case !terminal && socketPath != "":
		return nil, errors.New("--console-socket: the process has no terminal (process.terminal is false; use -t for exec)")
	case !terminal:
		return nil, nil
	case socketPath != "":
		f, err := dialUnix(socketPath)
		if err != nil {
			return nil, fmt.Errorf("--console-socket %s: %w", socketPath, err)
		}
		return &console{pass: f}, nil
	case detach:
		return nil, errors.New("process.terminal: a detached container needs --console-socket to receive its pty")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socketpair: %w", err)
	}
	return &console{pass: os.NewFile(uintptr(fds[0]), "console"), recv: os.NewFile(uintptr(fds[1]), "console-recv")}, nil
}

func dialUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// passFile is what the init gets (nil without a terminal).
func (c *console) passFile() *os.File {
	if c == nil {
		return nil
	}
	return c.pass
}

// handedOver drops strata's copy of the init's end: the init has sent the
// pty master on it (nil-safe, like close).
func (c *console) handedOver() {
	if c != nil {
		c.pass.Close()
	}
}

// close drops every copy strata holds (on failure).
func (c *console) close() {
	if c == nil {
		return
	}
	c.pass.Close()
	if c.recv != nil {
		c.recv.Close()
	}
}

// proxy receives the pty master (foreground, no console socket) and
// copies between it and strata's stdio, with strata's terminal in raw
// mode and its size passed on. done restores the terminal: call it on
// every exit path.
func (c *console) proxy() (done func(), err error) {
	if c == nil || c.recv == nil {
		return func() {}, nil
	}
	master, err := recvFd(c.recv)
	if err != nil {
		return nil, fmt.Errorf("receive the pty master: %w", err)
	}
	restore := func() {}
	stdin := int(os.Stdin.Fd())
	if term.IsTerminal(stdin) {
		old, err := term.MakeRaw(stdin)
		if err != nil {
			master.Close()
			return nil, fmt.Errorf("set the terminal to raw mode: %w", err)
		}
		restore = func() { term.Restore(stdin, old) }
		resize(stdin, master)
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	go func() {
		for range winch {
			resize(stdin, master)
		}
	}()
	go io.Copy(master, os.Stdin)
	out := make(chan struct{})
	go func() {
		// Ends with EIO once every holder of the pty's slave has exited.
		io.Copy(os.Stdout, master)
		close(out)
	}()
	return func() {
		// Let the last output drain before the terminal is restored.
		select {
		case <-out:
		case <-time.After(500 * time.Millisecond):
		}
		signal.Stop(winch)
		restore()
	}, nil
}

func resize(from int, to *os.File) {
	if ws, err := unix.IoctlGetWinsize(from, unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(to.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// recvFd reads one fd sent with SCM_RIGHTS.
func recvFd(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("no fd in the message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("no fd in the message")
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

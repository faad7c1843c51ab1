package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
	"golang.org/x/sys/unix"
)

// consoleSocket is a test receiver for --console-socket, as containerd's
// shim or runc's recvtty: it accepts one connection and takes the pty master
// sent with SCM_RIGHTS.
type consoleSocket struct {
	Path string
	ln   *net.UnixListener
	got  chan consoleMsg
}

type consoleMsg struct {
	master *os.File
	name   string // the payload runc sends: the pty's name
	err    error
}

func listenConsole(t *testing.T, dir string) *consoleSocket {
	t.Helper()
	path := filepath.Join(dir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	cs := &consoleSocket{Path: path, ln: ln, got: make(chan consoleMsg, 1)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			cs.got <- consoleMsg{err: err}
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			cs.got <- consoleMsg{err: err}
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			cs.got <- consoleMsg{err: fmt.Errorf("want one control message, got %d (%v)", len(msgs), err)}
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			cs.got <- consoleMsg{err: fmt.Errorf("want one fd, got %v (%v)", fds, err)}
			return
		}
		unix.CloseOnExec(fds[0])
		// Non-blocking, so that the file uses the poller and Close ends a
		// pending Read.
		unix.SetNonblock(fds[0], true)
		cs.got <- consoleMsg{master: os.NewFile(uintptr(fds[0]), "pty-master"), name: string(buf[:n])}
	}()
	return cs
}

// master waits for the pty master and checks it is one.
func (cs *consoleSocket) master(t *testing.T) *os.File {
	t.Helper()
	select {
	case m := <-cs.got:
		if m.err != nil {
			t.Fatalf("console socket: %v", m.err)
		}
		t.Cleanup(func() { m.master.Close() })
		if _, err := unix.IoctlGetUint32(int(m.master.Fd()), unix.TIOCGPTN); err != nil {
			t.Fatalf("the fd received on the console socket is not a pty master: %v", err)
		}
		return m.master
	case <-time.After(30 * time.Second):
		t.Fatal("nothing received on the console socket")
	}
	return nil
}

// ptyOutput collects what a pty master reads, for tests to wait on.
type ptyOutput struct {
	mu   sync.Mutex
	buf  strings.Builder
	done bool
	pos  int // what earlier waits consumed
}

func readPty(t *testing.T, master *os.File) *ptyOutput {
	o := &ptyOutput{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			o.mu.Lock()
			// A terminal ends lines with \r\n.
			o.buf.WriteString(strings.ReplaceAll(string(b[:n]), "\r", ""))
			if err != nil {
				o.done = true
			}
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o
}

// waitFor waits until the output after the last match holds re and returns
// the text from there to the end of the match.
func (o *ptyOutput) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		o.mu.Lock()
		all := o.buf.String()
		rest := all[o.pos:]
		done := o.done
		if loc := re.FindStringSubmatchIndex(rest); loc != nil {
			m := re.FindStringSubmatch(rest)
			o.pos += loc[1]
			o.mu.Unlock()
			return m
		}
		o.mu.Unlock()
		if done || time.Now().After(deadline) {
			t.Fatalf("terminal output lacks %q (ended: %v); since the last match:\n%s", re, done, rest)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// between is a regexp for what a shell prints between the markers
// "echo NAME-$((1+1))" and "echo NAME-$((2+2))" print: the command as typed
// (echoed by the terminal) holds neither "NAME-2" nor "NAME-4".
func between(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)` + name + `-2\n(.*?)` + name + `-4\n`)
}

func markers(name, cmd string) string {
	return fmt.Sprintf("echo %s-$((1+1)); %s; echo %s-$((2+2))\n", name, cmd, name)
}

func typeInto(t *testing.T, master *os.File, s string) {
	t.Helper()
	if _, err := master.Write([]byte(s)); err != nil {
		t.Fatalf("typing %q: %v", s, err)
	}
}

var sizeLine = regexp.MustCompile(`(?m)^(\d+) (\d+)$`)

// wantSize checks the output of stty size.
func wantSize(t *testing.T, out string, rows, cols int) {
	t.Helper()
	m := sizeLine.FindStringSubmatch(out)
	if m == nil || m[1] != fmt.Sprint(rows) || m[2] != fmt.Sprint(cols) {
		t.Errorf("stty size printed %q, want \"%d %d\"", out, rows, cols)
	}
}

func setSize(t *testing.T, f *os.File, rows, cols int) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
}

// driveShell is the common dialogue with a shell on a pty whose master the
// test holds: the size it starts with, a tty of the container's devpts,
// then a resize seen by a later stty size, then exit with code.
func driveShell(t *testing.T, master *os.File, out *ptyOutput, rows, cols int, extra string, code int) string {
	t.Helper()
	typeInto(t, master, markers("A", "stty size; tty"+extra))
	got := out.waitFor(t, between("A"), 20*time.Second)[1]
	wantSize(t, got, rows, cols)
	if !regexp.MustCompile(`(?m)^/dev/pts/\d+$`).MatchString(got) {
		t.Errorf("tty in the container printed %q, want /dev/pts/N", got)
	}
	setSize(t, master, 50, 132)
	typeInto(t, master, markers("B", "stty size"))
	wantSize(t, out.waitFor(t, between("B"), 20*time.Second)[1], 50, 132)
	typeInto(t, master, fmt.Sprintf("exit %d\n", code))
	return got
}

func withTerminal(rows, cols uint) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: rows, Width: cols}
	}
}

// withUserns gives the container a user namespace, root mapped to 100000.
func withUserns(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func TestConsoleSocketCreate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
	}{{"default", nil}, {"userns", withUserns}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tu.NewContainer(t, with(sh("exec sh"), withTerminal(31, 97), func(s *specs.Spec) {
				if tc.mutate != nil {
					tc.mutate(s)
				}
			}))
			cs := listenConsole(t, c.Dir)
			tu.Must(t, c.Create("--console-socket", cs.Path))
			master := cs.master(t)
			out := readPty(t, master)
			tu.Must(t, c.Runtime("start", c.ID))
			// The init's /dev/console is its pty (the same device as its
			// stdin), owned by the container's root and the devpts gid=5.
			got := driveShell(t, master, out, 31, 97, `; [ /dev/console -ef "$(tty)" ] && echo console-is-the-pty; stat -c owner=%u:%g "$(tty)"`, 5)
			if !strings.Contains(got, "console-is-the-pty\n") {
				t.Errorf("/dev/console is not the init's pty:\n%s", got)
			}
			if !strings.Contains(got, "owner=0:5\n") {
				t.Errorf("the pty's owner in the container is not 0:5:\n%s", got)
			}
			c.WaitStatus("stopped", 10*time.Second)
		})
	}
}

// TestConsoleSocketExec execs a shell with a terminal into a running
// container, as containerd's shim does: -d, --process with terminal and
// consoleSize, --console-socket.
func TestConsoleSocketExec(t *testing.T) {
	t.Parallel()
	c, initPid := runningContainer(t, nil)
	p := *c.Spec.Process
	p.Args = []string{"sh"}
	p.Terminal = true
	p.ConsoleSize = &specs.Box{Height: 25, Width: 81}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	procFile := filepath.Join(c.Dir, "process.json")
	if err := os.WriteFile(procFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cs := listenConsole(t, c.Dir)
	pidFile := filepath.Join(c.Dir, "exec.pid")
	tu.Must(t, execIn(c, []string{"-d", "--pid-file", pidFile, "--console-socket", cs.Path, "--process", procFile}))
	pid := readPidFile(t, pidFile)
	master := cs.master(t)
	out := readPty(t, master)
	// The pty is of the container's devpts: its stdin is the session's
	// controlling terminal, and the pts is listed in the container's
	// /dev/pts.
	got := driveShell(t, master, out, 25, 81, `; ls -1 /dev/pts`, 4)
	name := regexp.MustCompile(`(?m)^/dev/pts/(\d+)$`).FindStringSubmatch(got)
	if name == nil || !regexp.MustCompile(`(?m)^`+name[1]+`$`).MatchString(got) {
		t.Errorf("the exec'd shell's tty is not in the container's /dev/pts:\n%s", got)
	}
	pidGone(t, pid)
	if s := c.State(); s.Status != "running" || s.Pid != initPid {
		t.Errorf("container after the exec'd shell exited: %+v", s)
	}
}

// TestConsoleSocketExecForeground: exec -t --console-socket without -d.
// strata sends the master to the socket and exits with the process's status.
// runc 1.1 ignores the socket in the foreground and wants a terminal on its
// own stdio: without one it refuses, leaving nothing behind.
func TestConsoleSocketExecForeground(t *testing.T) {
	t.Parallel()
	c, initPid := runningContainer(t, nil)
	if !tu.IsStrata() {
		cs := listenConsole(t, c.Dir)
		before := snapContainer(c, initPid)
		if r := execIn(c, []string{"-t", "--console-socket", cs.Path}, "sh", "-c", "exit 6"); r.Code == 0 || r.Code == 6 {
			t.Errorf("runc exec -t in the foreground without a terminal: %s", r)
		}
		noExecLeftovers(t, c, initPid, before)
		return
	}
	cs := listenConsole(t, c.Dir)
	res := make(chan tu.Result, 1)
	go func() { res <- execIn(c, []string{"-t", "--console-socket", cs.Path}, "sh") }()
	master := cs.master(t)
	out := readPty(t, master)
	// exec -t has no consoleSize: the pty starts at 0x0, which stty size
	// refuses to print. Set one from the master's side.
	setSize(t, master, 12, 34)
	driveShell(t, master, out, 12, 34, "", 4)
	select {
	case r := <-res:
		if r.Code != 4 {
			t.Errorf("exec -t --console-socket: want exit 4: %s", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("exec did not return after the shell exited")
	}
}

// TestTerminalNeedsConsoleSocket: a detached process with a terminal has
// nobody to give its pty to.
func TestTerminalNeedsConsoleSocket(t *testing.T) {
	t.Parallel()
	t.Run("create", func(t *testing.T) {
		t.Parallel()
		c := tu.NewContainer(t, withTerminal(24, 80))
		wantErrorText(t, c.Create(), "console-socket")
		if r := c.Runtime("state", c.ID); r.Code == 0 {
			t.Errorf("failed create left a container: %s", r)
		}
	})
	t.Run("run-detach", func(t *testing.T) {
		t.Parallel()
		c := tu.NewContainer(t, with(sleeper, withTerminal(24, 80)))
		wantErrorText(t, c.Run("--detach"), "console-socket")
		if r := c.Runtime("state", c.ID); r.Code == 0 {
			t.Errorf("failed run -d left a container: %s", r)
		}
	})
	t.Run("exec-detach", func(t *testing.T) {
		t.Parallel()
		c, initPid := runningContainer(t, nil)
		before := snapContainer(c, initPid)
		wantErrorText(t, execIn(c, []string{"-t", "-d"}, "sleep", "1000"), "console-socket")
		noExecLeftovers(t, c, initPid, before)
	})
}

// onPty starts cmd with a fresh pty (set to rows x cols) as its stdio and
// controlling terminal, as a user's shell would run the runtime. It returns
// the master, the slave (which the test keeps to read its mode) and the
// slave's termios before the runtime touched it.
func onPty(t *testing.T, cmd *exec.Cmd, rows, cols int) (master, slave *os.File, before *unix.Termios) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	setSize(t, master, rows, cols)
	before, err = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag&unix.ICANON == 0 || before.Lflag&unix.ECHO == 0 {
		t.Fatalf("a new pty is not in canonical mode with echo: lflag %#x", before.Lflag)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return master, slave, before
}

// interactive drives the runtime on a pty as a user at a terminal would:
// type, resize the terminal, exit; then checks the exit status and that
// the terminal's mode is what it was.
func interactive(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	s := startOnPty(t, cmd)
	master, out := s.master, s.out
	// The shell's prompt (busybox may follow it with a cursor position
	// query, ESC [6n): the runtime is proxying by now.
	out.waitFor(t, regexp.MustCompile(`/ # `), 20*time.Second)
	during, err := unix.IoctlGetTermios(int(s.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if during.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("the runtime did not put the terminal in raw mode: lflag %#x", during.Lflag)
	}
	typeInto(t, master, "stty size; echo hi-$((6*7))\n")
	got := out.waitFor(t, regexp.MustCompile(`(?s)(.*)hi-42\n`), 20*time.Second)[1]
	wantSize(t, got, 24, 80)

	// Resizing the outer terminal sends the runtime SIGWINCH; it passes the
	// size on. It does so asynchronously: ask until it shows.
	setSize(t, master, 45, 132)
	resized := false
	for i := 0; i < 50 && !resized; i++ {
		typeInto(t, master, markers(fmt.Sprintf("W%d", i), "stty size"))
		resized = sizeLine.FindString(out.waitFor(t, between(fmt.Sprintf("W%d", i)), 20*time.Second)[1]) == "45 132"
		if !resized {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !resized {
		t.Error("the container's terminal never got the new size 45x132")
	}
	typeInto(t, master, "exit 3\n")
	s.exit(t, 3)
}

func TestInteractiveRun(t *testing.T) {
	t.Parallel()
	// The init is sh on a pty with no console socket: the runtime proxies
	// the pty to its own stdio, a pty the test holds the master of.
	// The spec's consoleSize gives way to the size of the runtime's terminal.
	c := tu.NewContainer(t, with(sh("exec sh"), withTerminal(20, 60)))
	interactive(t, tu.Command(c.Root, c.ID, "run", "--bundle", c.Bundle, c.ID))
	// run removes the container once it exited.
	if r := c.Runtime("state", c.ID); r.Code == 0 {
		t.Errorf("container still there after run: %s", r)
	}
}

func TestInteractiveExec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
	}{{"default", nil}, {"userns", withUserns}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, initPid := runningContainer(t, tc.mutate)
			interactive(t, tu.Command(c.Root, c.ID, "exec", "-t", c.ID, "sh"))
			if s := c.State(); s.Status != "running" || s.Pid != initPid {
				t.Errorf("container after the interactive exec: %+v", s)
			}
		})
	}
}

// ptySession is a runtime started by onPty: its terminal's master, the
// output read from it, and its exit.
type ptySession struct {
	master, slave *os.File
	before        *unix.Termios
	out           *ptyOutput
	done          chan error
}

func startOnPty(t *testing.T, cmd *exec.Cmd) *ptySession {
	t.Helper()
	s := &ptySession{done: make(chan error, 1)}
	s.master, s.slave, s.before = onPty(t, cmd, 24, 80)
	s.out = readPty(t, s.master)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-s.done:
			s.done <- err
		default:
			cmd.Process.Kill()
		}
	})
	return s
}

// exit waits for the runtime to exit, checks its status is code and that
// it left the terminal in the mode it found it in.
func (s *ptySession) exit(t *testing.T, code int) {
	t.Helper()
	var werr error
	select {
	case werr = <-s.done:
		s.done <- werr
	case <-time.After(30 * time.Second):
		t.Fatal("the runtime did not exit")
	}
	got := 0
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		got = ee.ExitCode()
	}
	if got != code {
		t.Errorf("runtime exit status %d (%v), want %d", got, werr, code)
	}
	after, err := unix.IoctlGetTermios(int(s.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *s.before {
		t.Errorf("terminal mode not restored:\nbefore %+v\nafter  %+v", *s.before, *after)
	}
}

// TestInteractiveFailureRestoresTerminal: a program that cannot start fails
// the runtime, which still gives the terminal back as it was.
func TestInteractiveFailureRestoresTerminal(t *testing.T) {
	t.Parallel()
	t.Run("run", func(t *testing.T) {
		t.Parallel()
		c := tu.NewContainer(t, func(s *specs.Spec) {
			s.Process.Args = []string{"/no/such/binary"}
			s.Process.Terminal = true
		})
		s := startOnPty(t, tu.Command(c.Root, c.ID, "run", "--bundle", c.Bundle, c.ID))
		s.exit(t, 1)
		if tu.IsStrata() {
			s.out.waitFor(t, regexp.MustCompile(`strata: .*/no/such/binary`), 5*time.Second)
		}
	})
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		c, _ := runningContainer(t, nil)
		s := startOnPty(t, tu.Command(c.Root, c.ID, "exec", "-t", c.ID, "/no/such/binary"))
		s.exit(t, 255) // both runtimes: exec itself failed
		if tu.IsStrata() {
			s.out.waitFor(t, regexp.MustCompile(`strata: .*/no/such/binary`), 5*time.Second)
		}
	})
}

// TestInteractiveOutputDrained: all the output of a process that exits at
// once reaches the terminal before the runtime exits.
func TestInteractiveOutputDrained(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sh("seq 1 30000; exit 3"), func(s *specs.Spec) { s.Process.Terminal = true }))
	s := startOnPty(t, tu.Command(c.Root, c.ID, "run", "--bundle", c.Bundle, c.ID))
	s.exit(t, 3)
	// The test's own reader may lag behind the runtime's exit.
	out := s.out.waitFor(t, regexp.MustCompile(`(?s)^.*\n30000\n`), 10*time.Second)[0]
	if n := strings.Count(out, "\n"); n != 30000 || !strings.HasPrefix(out, "1\n2\n3\n") {
		t.Errorf("the terminal got %d lines, want 30000", n)
	}
}

// TestInteractiveCtrlC: ^C typed at the outer terminal goes, raw, to the
// container's pty, whose line discipline interrupts the foreground job
// there; the runtime itself goes on.
func TestInteractiveCtrlC(t *testing.T) {
	t.Parallel()
	c, initPid := runningContainer(t, nil)
	s := startOnPty(t, tu.Command(c.Root, c.ID, "exec", "-t", c.ID, "sh"))
	s.out.waitFor(t, regexp.MustCompile(`/ # `), 20*time.Second)
	typeInto(t, s.master, "sleep 567 && echo slept-$((1+1))\n")
	pidns := nsLinks(t, initPid, []string{"pid"})["pid"]
	waitForProcess(t, pidns, "sleep\x00567\x00")
	typeInto(t, s.master, "\x03")
	typeInto(t, s.master, "echo rc-$((2+3)); exit 9\n")
	got := s.out.waitFor(t, regexp.MustCompile(`(?s)(.*)rc-5\n`), 20*time.Second)[1]
	if strings.Contains(got, "slept-2") {
		t.Errorf("sleep was not interrupted:\n%s", got)
	}
	s.exit(t, 9)
}

// waitForProcess waits for a process in the PID namespace pidns with the
// given command line.
func waitForProcess(t *testing.T, pidns, cmdline string) {
	t.Helper()
	for range 200 {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil || string(cmd) != cmdline {
				continue
			}
			if ns, _ := os.Readlink("/proc/" + e.Name() + "/ns/pid"); ns == pidns {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no process %q in %s", cmdline, pidns)
}

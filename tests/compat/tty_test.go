package compat

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// listenConsole is a --console-socket receiver (as containerd's shim):
// it takes one connection and the pty master passed on it with SCM_RIGHTS.
func listenConsole(t *testing.T, path string) <-chan *os.File {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *os.File, 1)
	go func() {
		defer ln.Close()
		defer close(got)
		ln.SetDeadline(time.Now().Add(20 * time.Second))
		conn, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 4096), oob)
		if err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return
		}
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
			got <- os.NewFile(uintptr(fds[0]), "pty-master")
		}
	}()
	return got
}

// ptyText reads what the container wrote to its terminal until the line
// "end" (or EIO when the process has gone), without the terminal's \r.
func ptyText(t *testing.T, got <-chan *os.File) string {
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(20 * time.Second):
	}
	if master == nil {
		return "no pty master received"
	}
	defer master.Close()
	var out strings.Builder
	buf := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(out.String(), "end\n") {
		n, err := master.Read(buf)
		out.WriteString(strings.ReplaceAll(string(buf[:n]), "\r", ""))
		if err != nil {
			if !errors.Is(err, unix.EIO) {
				out.WriteString("read: " + err.Error())
			}
			break
		}
	}
	return out.String()
}

// ttyReport is what a process prints about its terminal: the owner,
// group and mode of the pty its stdin is, and whether it may write to it.
const ttyReport = `stat -Lc "%u:%g %a" /proc/self/fd/0; id -u; (echo probe > /proc/self/fd/0) 2>/dev/null && echo writable; echo end`

func asUser(uid, gid uint32) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.User = specs.User{UID: uid, GID: gid} }
}

// TestTerminalOwner: process.user 1000:1000 with terminal: true; the
// user's shell must own its pty, as runc hands it over.
func TestTerminalOwner(t *testing.T) {
	t.Parallel()
	t.Run("run", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id := s.newID()
			bundle := s.bundle(id, sh(ttyReport), asUser(1000, 1000), func(sp *specs.Spec) { sp.Process.Terminal = true })
			sock := filepath.Join(s.dir, "console.sock")
			got := listenConsole(t, sock)
			s.runx(ok, "run", "-d", "--console-socket", sock, "-b", bundle, id)
			s.note("the terminal as the container's user sees it", ptyText(t, got))
			s.waitStatus(id, "stopped")
		})
	})
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		compare(t, func(s *session) {
			id, _ := s.container("running")
			sock := filepath.Join(s.dir, "console.sock")
			got := listenConsole(t, sock)
			s.runx(ok, "exec", "-d", "-t", "--console-socket", sock, "-u", "1000:1000", id, "sh", "-c", ttyReport)
			s.note("the terminal as the exec'd user sees it", ptyText(t, got))
		})
	})
}

package security

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// consoleSocket listens for a --console-socket connection and keeps the
// pty master it receives open until stop (closing it early would hang up
// the init's terminal and kill it with SIGHUP).
func consoleSocket(t *testing.T) (string, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var received []int
	go func() {
		defer close(done)
		ln.SetDeadline(time.Now().Add(60 * time.Second))
		conn, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					received = append(received, fds...)
				}
			}
		}
	}()
	return path, func() {
		ln.Close()
		<-done
		for _, fd := range received {
			unix.Close(fd)
		}
	}
}

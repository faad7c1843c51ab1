package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The parent (`strata create`/`run`) and the container init talk over a
// SOCK_SEQPACKET socketpair: each message is one datagram, a type byte and a
// payload. The first half is spoken by the C constructor in nsenter/ before
// the Go runtime starts; the rest by initContainer in init_linux.go.
//
//	parent (process.go)                   init (nsenter.c, then init_linux.go)
//	'B' bootstrap ----------------------> join namespaces by path, unshare user ns
//	    <-------------------------------- 'U' user namespace made   (if asked)
//	write uid_map, gid_map
//	'M' mapped -------------------------> unshare the other namespaces
//	                                      (not cgroup), fork
//	    <-------------------------------- 'P' host pid of the final init
//	'C' config (JSON) ------------------> Go starts, reads 'C'
//	move the init into its cgroups        (on cgroup v1 a move can wait a
//	(in the background)                   whole RCU grace period: the init's
//	'G' placed (or 'X' failed) ---------> Go start-up overlaps it)
//	                                      unshare the cgroup namespace, mounts
//	    <-------------------------------- 'H' run the runtime-namespace hooks
//	prestart, createRuntime hooks
//	'h' hooks done ---------------------> createContainer hooks, pivot_root,
//	                                      masked paths, process attributes
//	                                      seccomp filter with SCMP_ACT_NOTIFY:
//	    <-------------------------------- 'S' + listener fd (SCM_RIGHTS)
//	send fd and state to the agent at
//	linux.seccomp.listenerPath
//	    <-------------------------------- 'R' ready (phase timings as JSON)
//	cgroup limits, state.json: created
//	'A' release ------------------------> drop the parent death signal
//	    <-------------------------------- 'K' released
//	create returns                        exec stage: open the exec fifo,
//	                                      blocking until `start` (or `run`)
//	                                      opens it; execve
//
// On a pure cgroup v2 host the init (and an exec'd process) is born in its
// cgroup, clone3 CLONE_INTO_CGROUP (cgroupclone_linux.go): nothing is moved
// and 'G' follows 'C' at once; the init does not know the difference.
//
// A failure on either side of the init is sent as 'E' and the init exits.
// After 'R' the socket stays open until execve closes it (O_CLOEXEC): `run`
// reads it to learn whether the user's program could be executed.
type msgType byte

const (
	msgBootstrap    msgType = 'B'
	msgConfig       msgType = 'C'
	msgUsernsReady  msgType = 'U'
	msgUsernsMapped msgType = 'M'
	msgPid          msgType = 'P'
	msgRunHooks     msgType = 'H'
	msgHooksDone    msgType = 'h'
	msgReady        msgType = 'R'
	msgSeccompFd    msgType = 'S' // carries the seccomp listener fd
	msgPlaced       msgType = 'G' // the process is in its cgroups
	msgPlaceFailed  msgType = 'X' // it could not be put there (payload: why)
	msgRelease      msgType = 'A' // state saved: the init may outlive strata
	msgReleased     msgType = 'K' // it has dropped its parent death signal
	msgError        msgType = 'E'
)

// maxMessage bounds one datagram; a config.json larger than this is refused.
const maxMessage = 1 << 20

// syncSocket is a raw blocking fd: the init has no use for Go's poller, and
// reading datagrams needs their size first.
type syncSocket struct{ fd int }

// newSyncPair returns the parent's and the init's ends.
func newSyncPair() (parent, child *syncSocket, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	// A full config.json is one datagram: make room for it.
	for _, fd := range fds {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, maxMessage)
	}
	return &syncSocket{fds[0]}, &syncSocket{fds[1]}, nil
}

func (s *syncSocket) send(t msgType, payload []byte) error {
	buf := make([]byte, 1+len(payload))
	buf[0] = byte(t)
	copy(buf[1:], payload)
	if len(buf) > maxMessage {
		return fmt.Errorf("message %q of %d bytes exceeds %d", t, len(buf), maxMessage)
	}
	for {
		_, err := unix.Write(s.fd, buf)
		if err != unix.EINTR {
			return err
		}
	}
}

func (s *syncSocket) sendJSON(t msgType, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.send(t, b)
}

// errInitGone is returned when the other end closed without a message.
var errInitGone = errors.New("the container init exited without reporting an error")

// recv reads one message. An 'E' message is turned into the error it
// carries. An fd sent along (none is expected) is closed.
func (s *syncSocket) recv() (msgType, []byte, error) {
	t, payload, fd, err := s.recvMsg()
	closeIfValid(fd)
	return t, payload, err
}

// sendFD sends a message of type t carrying fd (SCM_RIGHTS).
func (s *syncSocket) sendFD(t msgType, fd int) error {
	for {
		err := unix.Sendmsg(s.fd, []byte{byte(t)}, unix.UnixRights(fd), nil, 0)
		if err != unix.EINTR {
			return err
		}
	}
}

// recvMsg is recv for messages that may carry an fd (-1 when none came;
// received fds are O_CLOEXEC).
func (s *syncSocket) recvMsg() (msgType, []byte, int, error) {
	var (
		n   int
		err error
	)
	for {
		n, _, err = unix.Recvfrom(s.fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil || n == 0 {
		return 0, nil, -1, errInitGone
	}
	buf, oob := make([]byte, n), make([]byte, unix.CmsgSpace(4))
	var oobn int
	for {
		n, oobn, _, _, err = unix.Recvmsg(s.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil || n == 0 {
		return 0, nil, -1, errInitGone
	}
	fd := -1
	if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range cmsgs {
			if fds, err := unix.ParseUnixRights(&m); err == nil {
				for _, f := range fds {
					if fd < 0 {
						fd = f
					} else {
						unix.Close(f)
					}
				}
			}
		}
	}
	t, payload := msgType(buf[0]), buf[1:n]
	if t == msgError {
		closeIfValid(fd)
		return t, nil, -1, errors.New(string(payload))
	}
	return t, payload, fd, nil
}

// expect reads one message and fails unless it has the wanted type.
func (s *syncSocket) expect(want msgType) ([]byte, error) {
	t, payload, err := s.recv()
	if err != nil {
		return nil, err
	}
	if t != want {
		return nil, fmt.Errorf("sync: got message %q, expected %q", t, want)
	}
	return payload, nil
}

func (s *syncSocket) close() error { return unix.Close(s.fd) }

// file wraps the init's end for passing to the child process.
func (s *syncSocket) file() *os.File { return os.NewFile(uintptr(s.fd), "sync-init") }

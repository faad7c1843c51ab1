package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The parent (`strata create`/`run`/`exec`) and the process it starts talk
// over a SOCK_SEQPACKET socketpair: each message is one datagram, a type byte
// and a payload. Three parts of strata speak the child's side: the C
// constructor in nsenter/nsenter.c (namespaces, before any Go runtime), the
// plan executor in nsenter/executor.c (the rootfs and the process itself,
// from its mounts to execve; its steps are compiled by libcontainer/plan),
// and, for a spec the plan cannot express, the Go half of the container's
// init (init_linux.go: the rootfs).
//
// create (and run), the init's plan compiled by the parent
// (initplan_linux.go); no Go runs in the init:
//
//	parent (process.go)                   init
//	'B' bootstrap (with "plan") --------> nsenter.c: enter the v1 cgroups,
//	                                      join namespaces by path, unshare
//	                                      them ('U', 'M': the user
//	                                      namespace, as below), fork
//	    <-------------------------------- 'P' host pid of the final init
//	'Q' the init's plan ----------------> executor.c: private procfs
//	'F' index + detached mount (fd) ----> (with a user namespace: the
//	                                      binds the parent made, received
//	                                      first)
//	move the init into its cgroups        propagation, the mounts before
//	(in the background)                   the first cgroup mount
//	'G' placed (or 'X' failed) ---------> unshare the cgroup namespace,
//	                                      the other mounts, /dev
//	    <-------------------------------- 'H' run the runtime-namespace hooks
//	prestart, createRuntime hooks
//	'h' hooks done ---------------------> createContainer hooks, pivot_root,
//	                                      masked paths, sysctls, hostname;
//	                                      then the process steps, as below
//	                                      from 'S'
//
// create (and run) with the Go init, for what plan.Rootfs cannot express
// (--no-pivot, the overlay rootfs...):
//
//	parent (process.go)                   init
//	'B' bootstrap ----------------------> nsenter.c: enter the v1 cgroups,
//	                                      join namespaces by path,
//	                                      unshare the user namespace
//	    <-------------------------------- 'U' user namespace made   (if asked)
//	write uid_map, gid_map
//	'M' mapped -------------------------> unshare the other namespaces
//	                                      (not cgroup), fork
//	    <-------------------------------- 'P' host pid of the final init
//	'F' index + detached mount (fd) ----> (per idmapped bind mount of a
//	                                      container with a user namespace)
//	'C' config (JSON) ------------------> Go starts (init_linux.go), reads 'C'
//	move the init into its cgroups        (only where it could not enter
//	(in the background)                   them itself: the init's Go
//	'G' placed (or 'X' failed) ---------> start-up overlaps the move)
//	                                      unshare the cgroup namespace, mounts
//	    <-------------------------------- 'H' run the runtime-namespace hooks
//	prestart, createRuntime hooks
//	'h' hooks done ---------------------> createContainer hooks, pivot_root,
//	                                      masked paths, sysctls, hostname;
//	                                      compile the process plan
//	    <-------------------------------- 'T' Go's timings and warnings (JSON)
//	                                      execveat strata: the exec stage
//	                                      (stage.c) runs the plan
//	                                      (executor.c): terminal, attributes,
//	                                      user, capabilities
//	    <-------------------------------- 'S' + seccomp listener fd (SCM_RIGHTS,
//	send fd and state to the agent at      with SCMP_ACT_NOTIFY)
//	linux.seccomp.listenerPath
//	    <-------------------------------- 'R' ready (the plan's timings, notes)
//	cgroup limits, state.json: created
//	'A' release ------------------------> drop the parent death signal
//	    <-------------------------------- 'K' released
//	create returns                        open the exec fifo, blocking until
//	                                      `start` (or `run`) opens it;
//	                                      startContainer hooks; execve
//
// exec (exec_linux.go): the same start, with the plan record in 'B'; no Go
// runs in the process:
//
//	parent                                process
//	'B' bootstrap (join all, plan) -----> nsenter.c: enter the v1 cgroups,
//	                                      join the namespaces,
//	                                      fork into the pid namespace
//	    <-------------------------------- 'P' host pid
//	'Q' the process plan ---------------> executor.c runs it:
//	move into the cgroups (background)
//	'G' placed (or 'X' failed) ---------> (await-placement step) terminal,
//	                                      attributes, user, capabilities
//	    <-------------------------------- 'S' listener fd   (SCMP_ACT_NOTIFY)
//	    <-------------------------------- 'R' ready
//	exec returns (-d) or waits            execve
//
// The init (and an exec'd process) enters its cgroups as it starts
// (cgroups.Entry): born in the cgroup2 directory with clone3
// CLONE_INTO_CGROUP (cgroupclone_linux.go), and moving itself into the v1
// hierarchies (the cgroup= records of 'B'). Then nothing is moved and 'G'
// follows at once: the rest of the protocol is the same either way.
//
// A failure anywhere in the child is sent as 'E' and the child exits. After
// 'R' the socket stays open until execve closes it (O_CLOEXEC): `run` and
// `exec` read it to learn whether the user's program could be executed.
type msgType byte

const (
	msgBootstrap    msgType = 'B'
	msgConfig       msgType = 'C'
	msgMountTree    msgType = 'F' // a mount tree the parent made (payload: index in mounts)
	msgPlan         msgType = 'Q' // the process's plan (libcontainer/plan): an exec'd one's, or the init's
	msgReport       msgType = 'T' // the Go init's timings and warnings
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

// sendFD sends a message of type t carrying fd (SCM_RIGHTS) and payload.
func (s *syncSocket) sendFD(t msgType, fd int, payload []byte) error {
	for {
		err := unix.Sendmsg(s.fd, append([]byte{byte(t)}, payload...), unix.UnixRights(fd), nil, 0)
		if err != unix.EINTR {
			return err
		}
	}
}

// recvMsg is recv for messages that may carry an fd (-1 when none came;
// received fds are O_CLOEXEC).
func (s *syncSocket) recvMsg() (msgType, []byte, int, error) {
	// A process that exits with a message of ours unread (a 'G' sent as it
	// failed) leaves ECONNRESET on this socket, which the kernel reports
	// once, before the messages still queued: each read is tried again
	// then, for the process's 'E'.
	var (
		n   int
		err error
	)
	for resets := 0; ; {
		n, _, err = unix.Recvfrom(s.fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err == unix.ECONNRESET && resets < 2 {
			resets++
			continue
		}
		if err != unix.EINTR {
			break
		}
	}
	if err != nil || n == 0 {
		return 0, nil, -1, errInitGone
	}
	buf, oob := make([]byte, n), make([]byte, unix.CmsgSpace(4))
	var oobn int
	for resets := 0; ; {
		n, oobn, _, _, err = unix.Recvmsg(s.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.ECONNRESET && resets < 2 {
			resets++
			continue
		}
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

package libcontainer

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/seccomp"
)

// Seccomp, end to end:
//
//   - The parent compiles linux.seccomp (CompileSeccomp) before it makes
//     anything, through a cache under <root>/.cache~/seccomp (the '~' keeps
//     the directory from ever being read as a container ID). The BPF goes
//     to the init in initConfig.
//   - The filter is loaded as late as possible, by the thread that will
//     execve the program (seccompLoader below decides where):
//     with no_new_privs and no SCMP_ACT_NOTIFY, by the C exec stage
//     (nsenter/execstage.c) right before execve, after the created state,
//     unless startContainer hooks run: then by the Go init before them,
//     as runc runs them under the filter;
//     with SCMP_ACT_NOTIFY, by the Go init just before it reports ready,
//     so that it can send the listener fd to the parent (msgSeccompFd),
//     which passes it on to linux.seccomp.listenerPath;
//     without no_new_privs, by the Go init before it changes user and
//     drops capabilities: loading a filter needs CAP_SYS_ADMIN then, as in
//     runc. The few syscalls strata makes after that (setresuid, capset,
//     prctl, execveat of the exec stage...) must then be allowed by the
//     profile; docker's default profile allows them.

// seccompCacheDir is where compiled filters are kept below --root.
func seccompCacheDir(root string) string { return filepath.Join(root, ".cache~", "seccomp") }

// CompileSeccomp validates and compiles spec's linux.seccomp (nil when it
// has none), from the cache when it can. The warnings name syscalls this
// libseccomp does not know, which were skipped.
func CompileSeccomp(root string, spec *specs.Spec) (*seccomp.Program, []string, error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, nil, nil
	}
	return seccomp.Cached(seccompCacheDir(root), spec.Linux.Seccomp)
}

// seccompProgram compiles the container's filter for a process exec'd in
// it; the container's create has filled the cache already.
func (c *Container) seccompProgram() (*seccomp.Program, error) {
	p, _, err := CompileSeccomp(filepath.Dir(c.dir), c.State.Config)
	return p, err
}

// seccompLoader loads the init's filter at the right moment (see above).
type seccompLoader struct {
	prog     *seccomp.Program
	nnp      bool
	sock     *syncSocket
	loaded   bool
	listener int
}

func newSeccompLoader(prog *seccomp.Program, p *specs.Process, sock *syncSocket) *seccompLoader {
	return &seccompLoader{prog: prog, nnp: p.NoNewPrivileges, sock: sock, listener: -1}
}

// beforeCredentials runs before the user change and the capability drop:
// without no_new_privs it is the last moment the init may load a filter.
func (l *seccompLoader) beforeCredentials() error {
	if l == nil || l.prog == nil || l.nnp {
		return nil
	}
	return l.load()
}

// beforeReady runs once the process's attributes are set: a filter with a
// listener is loaded here, while the parent still waits for 'R'.
func (l *seccompLoader) beforeReady() error {
	if l == nil || l.prog == nil || l.loaded || !l.prog.Notify {
		return nil
	}
	return l.load()
}

// beforeStartHooks loads the filter before the startContainer hooks run,
// if nothing loaded it yet: runc runs them under it.
func (l *seccompLoader) beforeStartHooks() error {
	if l == nil || l.prog == nil || l.loaded {
		return nil
	}
	return l.load()
}

func (l *seccompLoader) load() error {
	var extra uint
	if l.prog.Notify {
		extra = seccomp.FlagNewListener
	}
	fd, err := l.prog.Load(extra)
	if err != nil {
		return err
	}
	l.loaded = true
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	// Sent now, whichever step loaded it: the parent serves it before 'R'.
	if err := l.sock.sendFD(msgSeccompFd, fd); err != nil {
		return fmt.Errorf("linux.seccomp: send the listener fd to the parent: %w", err)
	}
	return nil
}

// execStage returns a memfd with the BPF for the exec stage to load, and
// the flags to load it with; -1 when there is nothing left to load.
func (l *seccompLoader) execStage() (int, uint, error) {
	if l == nil || l.prog == nil || l.loaded {
		return -1, 0, nil
	}
	fd, err := unix.MemfdCreate("strata-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, 0, fmt.Errorf("linux.seccomp: memfd_create: %w", err)
	}
	if _, err := unix.Write(fd, l.prog.BPF); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("linux.seccomp: write memfd: %w", err)
	}
	return fd, l.prog.Flags, nil
}

// serveSeccompFd passes a listener fd from the init to the seccomp agent
// at linux.seccomp.listenerPath, with the container process state
// (config-linux.md): one connection, one message, then closed.
func (c *Container) serveSeccompFd(pid, fd int, creating bool) error {
	defer unix.Close(fd)
	s := c.State.Config.Linux.Seccomp
	st := c.OCIState()
	if creating {
		st.Status = specs.StateCreating
	}
	msg, err := json.Marshal(specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: s.ListenerMetadata,
		State:    *st,
	})
	if err != nil {
		return err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.ListenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath %q: %w", s.ListenerPath, err)
	}
	defer conn.Close()
	n, oobn, err := conn.WriteMsgUnix(msg, unix.UnixRights(fd), nil)
	if err == nil && (n != len(msg) || oobn == 0) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(msg))
	}
	if err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath %q: send the container process state: %w", s.ListenerPath, err)
	}
	return nil
}

func closeIfValid(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

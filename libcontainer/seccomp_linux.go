package libcontainer

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/plan"
	"github.com/strata-runtime/strata/libcontainer/seccomp"
)

// Seccomp, end to end:
//
//   - The parent compiles linux.seccomp (CompileSeccomp) before it makes
//     anything, through a cache under <root>/.cache~/seccomp (the '~' keeps
//     the directory from ever being read as a container ID). The BPF goes
//     to the init in initConfig.
//   - The filter is loaded as late as possible by the plan executor
//     (nsenter/executor.c), the process that will execve the program; the
//     plan decides the moment (libcontainer/plan/process.go, seccompMoment):
//     right before execve; before the startContainer hooks, as runc runs
//     them under the filter; with SCMP_ACT_NOTIFY before the ready report,
//     so that the listener fd reaches the parent (msgSeccompFd), which
//     passes it on to linux.seccomp.listenerPath; without no_new_privs
//     before the user change and the capability drop, as loading needs
//     CAP_SYS_ADMIN then (the few syscalls the executor makes after that,
//     setresuid, capset, prctl, execve, must then be allowed by the
//     profile; docker's default profile allows them).

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

// filterOf is a compiled filter as the plan carries it (nil without one).
func filterOf(p *seccomp.Program) *plan.Filter {
	if p == nil {
		return nil
	}
	return &plan.Filter{BPF: p.BPF, Flags: p.Flags, Notify: p.Notify}
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

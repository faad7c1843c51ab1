package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/capabilities"
	"github.com/strata-runtime/strata/libcontainer/identity"
	"github.com/strata-runtime/strata/libcontainer/rlimit"
)

// preparedProcess is a process whose attributes are set and whose program
// is found: only execve is left. The container init and (later) exec'd
// processes both go through prepareProcess, so they cannot drift apart.
type preparedProcess struct {
	path     string
	args     []string
	env      []string
	warnings []string
	notes    []string
}

// prepareProcess gives the calling thread the process's attributes, in the
// order the kernel allows: rlimits and scheduling while still privileged;
// the capability bounding set before the user change (it needs
// CAP_SETPCAP); cwd, LSM label and fd cleanup before a filter that may have
// to be loaded early; uid and gid with capabilities kept; then the other
// capability sets and no_new_privs. The caller holds the OS thread
// (capabilities are per thread).
func prepareProcess(spec *specs.Spec, proc *procfs, preserveFDs int, x *processExtras) (*preparedProcess, error) {
	p := spec.Process
	if p == nil || len(p.Args) == 0 {
		return nil, errors.New("process.args: must name a program to run")
	}
	caps, err := capabilities.New(p.Capabilities)
	if err != nil {
		return nil, err
	}
	// HOME from the container's /etc/passwd, read while still root.
	pp := &preparedProcess{args: p.Args, env: identity.WithHome(p.Env, "/", p.User.UID)}
	if err := rlimit.Apply(p.Rlimits); err != nil {
		return nil, err
	}
	// Scheduler, I/O priority, CPU affinity, personality, memory policy:
	// some need privileges the capability drop takes away.
	if err := applyAttributes(x.attrs); err != nil {
		return nil, err
	}
	if err := caps.ApplyBounding(); err != nil {
		return nil, err
	}
	// Into the working directory while still root, as runc does: a cwd
	// the host lets root reach but the container user cannot still works;
	// on EACCES it is tried again as the user below.
	cwdDone := true
	if err := enterCwd(p.Cwd); errors.Is(err, unix.EACCES) {
		cwdDone = false
	} else if err != nil {
		return nil, err
	}
	// AppArmor profile, SELinux label: they take effect at execve.
	if err := x.lsm.apply(proc); err != nil {
		return nil, err
	}
	// Nothing but stdio and the preserved fds may reach the user's program
	// (CVE-2024-21626 leaked a host directory fd). One syscall marks every
	// other fd close-on-exec, including the sync socket, which so tells
	// the parent that execve happened. Nothing opened later is inheritable.
	if err := unix.CloseRange(uint(3+preserveFDs), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	if err := giveStdioToUser(p.User); err != nil {
		return nil, err
	}
	// Without no_new_privs, loading a seccomp filter needs CAP_SYS_ADMIN:
	// this is the last moment the process has it. Every syscall from here
	// to execve must then pass the container's filter, which is why the
	// cwd, the LSM label and the fds are dealt with above.
	if err := x.filter.beforeCredentials(); err != nil {
		return nil, err
	}
	if err := identity.Apply(p.User, proc.setgroupsAllowed()); err != nil {
		return nil, err
	}
	if err := caps.ApplyCaps(); err != nil {
		return nil, err
	}
	// Read after ApplyCaps, which adds the ambient capabilities it could not raise.
	pp.warnings, pp.notes = caps.Warnings(), caps.Notes()
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	if !cwdDone {
		if err := enterCwd(p.Cwd); err != nil {
			return nil, err
		}
	}
	if pp.path, err = lookPath(p.Args[0], pp.env); err != nil {
		return nil, err
	}
	return pp, nil
}

// giveStdioToUser makes the process's uid the owner of its stdio, as runc
// does: a pty (process.terminal) left owned by root is a terminal the
// user's shell cannot reopen or change the modes of (/dev/tty, stty). The
// caller's /dev/null is left alone, and so is what the kernel will not let
// this process change: a uid the user namespace does not map (EINVAL), an
// owner it does not map (EPERM), a read-only /dev (EROFS).
func giveStdioToUser(u specs.User) error {
	var null unix.Stat_t
	if err := unix.Stat("/dev/null", &null); err != nil {
		null.Rdev = ^uint64(0)
	}
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			continue // not open
		}
		if st.Uid == u.UID || (st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == null.Rdev) {
			continue
		}
		// The uid only, as runc: a pty keeps devpts's tty group, which
		// the user's terminal programs (write, wall) expect.
		err := unix.Fchown(fd, int(u.UID), -1)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("process.user: give stdio (fd %d) to uid %d: %w", fd, u.UID, err)
		}
	}
	return nil
}

// enterCwd changes to the process's cwd and checks that it is inside the
// container: a cwd reached through a leaked fd (/proc/self/fd/N) would
// otherwise hand the container a host directory (CVE-2024-21626).
func enterCwd(cwd string) error {
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if err != nil || !filepath.IsAbs(wd) {
		// getcwd answers "(unreachable)/..." or ENOENT outside the root.
		return fmt.Errorf("process.cwd %q: resolves outside the container", cwd)
	}
	return nil
}

// lookPath finds the program as execve in the container will: a name with
// a slash as is, otherwise along the process's own PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("process.args[0] %q: %w", name, err)
		}
		return name, nil
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, name)
		if checkExecutable(candidate) == nil {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("process.args[0] %q: executable file not found in $PATH (%s)", name, path)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		// The standard wording ("stat P: no such file or directory"):
		// dockerd matches it to answer 127 rather than 125, as for runc.
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return fmt.Errorf("not executable: %w", err)
	}
	return nil
}

// launchFDs are the fds the exec stage (nsenter/execstage.c) works with.
type launchFDs struct {
	sync, procfs, fifo, exe int // fifo is -1 once start has been waited for
	seccomp                 *seccompLoader
}

// exec hands the process over to the exec stage: strata re-executed from
// its sealed copy, running only C, which waits for start when fifo is set
// and then executes the program. It returns only on failure.
func (pp *preparedProcess) exec(fds launchFDs, rlimits []specs.POSIXRlimit) error {
	if err := restoreNofile(rlimits); err != nil {
		return err
	}
	prog, err := pp.describe()
	if err != nil {
		return err
	}
	// The seccomp filter, unless the Go init had to load it: the exec
	// stage loads it right before execve.
	filter, filterFlags, err := fds.seccomp.execStage()
	if err != nil {
		return err
	}
	// prepareProcess marked everything close-on-exec; these few must
	// reach the exec stage, which closes them itself.
	for _, fd := range []int{fds.sync, fds.procfs, fds.fifo, prog, filter} {
		if fd < 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("exec stage: fcntl fd %d: %w", fd, err)
		}
	}
	env := fmt.Sprintf("_STRATA_EXEC=%d,%d,%d,%d,%d,%d", fds.sync, fds.procfs, fds.fifo, prog, filter, filterFlags)
	argv, err := syscall.SlicePtrFromStrings([]string{"strata", "init"})
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings([]string{env})
	if err != nil {
		return err
	}
	empty, _ := syscall.BytePtrFromString("")
	// execveat on the sealed binary's fd: no path, so nothing in the
	// container's filesystem can stand in for it.
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fds.exe), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("exec stage: execveat strata: %w", errno)
}

// describe writes path, argv and envp to a memfd for the exec stage.
func (pp *preparedProcess) describe() (int, error) {
	fd, err := unix.MemfdCreate("strata-program", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("exec stage: memfd_create: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d\x00%s\x00", len(pp.args), len(pp.env), pp.path)
	for _, s := range append(append([]string(nil), pp.args...), pp.env...) {
		if strings.IndexByte(s, 0) >= 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("process: %q contains a NUL byte", s)
		}
		b.WriteString(s)
		b.WriteByte(0)
	}
	if _, err := unix.Write(fd, []byte(b.String())); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("exec stage: write memfd: %w", err)
	}
	return fd, nil
}

// restoreNofile gives the program the open-files limit strata was started
// with (saved by nsenter before Go raised it), unless the spec sets one.
func restoreNofile(rlimits []specs.POSIXRlimit) error {
	for _, r := range rlimits {
		if r.Type == "RLIMIT_NOFILE" {
			return nil
		}
	}
	cur, err := strconv.ParseUint(os.Getenv("_STRATA_NOFILE"), 10, 64)
	if err != nil {
		return nil
	}
	var lim unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
		return err
	}
	lim.Cur = cur
	return unix.Prlimit(0, unix.RLIMIT_NOFILE, &lim, nil)
}

// setgroupsAllowed: in a user namespace whose setgroups file says "deny"
// (one made by an unprivileged user, or joined), setgroups(2) fails.
func (p *procfs) setgroupsAllowed() bool {
	b, err := p.read(strconv.Itoa(os.Getpid()) + "/setgroups")
	return err != nil || strings.TrimSpace(string(b)) != "deny"
}

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// idmapTree makes the detached tree an idmapped mount: files owned on disk
// by a ContainerID show as the matching HostID through it, the direction
// of a user namespace's map. The mapping is the mount's own, else the
// container's user namespace (runtime-spec config.md, "idmap").
func idmapTree(tree *os.File, m specs.Mount, recursive bool, containerUserNS *os.File) error {
	userns := containerUserNS
	switch {
	case len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0:
		if len(m.UIDMappings) == 0 || len(m.GIDMappings) == 0 {
			return errors.New("idmap: uidMappings and gidMappings must be given together")
		}
		ns, err := newUserNS(m.UIDMappings, m.GIDMappings)
		if err != nil {
			return fmt.Errorf("idmap: %w", err)
		}
		defer ns.Close()
		userns = ns
	case userns == nil:
		return errors.New("idmap: the mount has no uidMappings/gidMappings and the container no user namespace")
	}
	if err := setIDMap(tree, userns, recursive); err != nil {
		return fmt.Errorf("idmap: %w", err)
	}
	return nil
}

// setIDMap idmaps a detached tree through userns (mount_setattr refuses an
// attached one).
func setIDMap(tree, userns *os.File, recursive bool) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(tree.Fd()), "", flags, &attr); err != nil {
		return fmt.Errorf("mount_setattr(MOUNT_ATTR_IDMAP): %w", err)
	}
	return nil
}

// IDMappedClone returns a detached clone (open_tree OPEN_TREE_CLONE) of the
// mount at dir, idmapped through userns: for the bundle builder's idmapped
// layers and its view of an upper directory with a container's ids.
func IDMappedClone(dir string, userns *os.File) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", dir, err)
	}
	tree := os.NewFile(uintptr(fd), dir)
	if err := setIDMap(tree, userns, false); err != nil {
		tree.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return tree, nil
}

// NewUserNS returns a user namespace with the given maps, held by an fd:
// what mount_setattr(MOUNT_ATTR_IDMAP) takes, for the parent's idmapped
// bind mounts and the bundle builder's idmapped layers alike.
func NewUserNS(uids, gids []specs.LinuxIDMapping) (*os.File, error) { return newUserNS(uids, gids) }

// newUserNS returns a user namespace with the given maps, held by an fd.
// A namespace needs a process to be created and its maps written, so a
// child is started in a new one and its namespace kept after it is
// killed. PTRACE_TRACEME stops the child at its execve: it never runs an
// instruction of the program, so what it executes does not matter.
//
// Go's own UidMappings cannot be used: Go writes /proc/PID/uid_map with
// the pid of the child in our pid namespace, but in a new container's
// init /proc is still the host's, where that pid is another process. The
// pidfd's fdinfo gives the child's pid as that /proc numbers it.
func newUserNS(uids, gids []specs.LinuxIDMapping) (*os.File, error) {
	// The tracer is the thread that started the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pidfd := -1
	proc, err := os.StartProcess("/proc/self/exe", []string{"strata-userns-holder"}, &os.ProcAttr{
		Sys: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER,
			Ptrace:     true,
			Pdeathsig:  unix.SIGKILL,
			PidFD:      &pidfd,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start a process for the user namespace: %w", err)
	}
	defer func() {
		_ = proc.Kill()
		_, _ = proc.Wait()
		unix.Close(pidfd)
	}()
	// The child is stopped and not reaped: its pid cannot be reused.
	pid, err := procfsPid(pidfd)
	if err != nil {
		return nil, err
	}
	dir := fmt.Sprintf("/proc/%d/", pid)
	if err := os.WriteFile(dir+"uid_map", formatIDMap(uids), 0); err != nil {
		return nil, fmt.Errorf("write uid_map: %w", err)
	}
	if err := os.WriteFile(dir+"gid_map", formatIDMap(gids), 0); err != nil {
		return nil, fmt.Errorf("write gid_map: %w", err)
	}
	ns, err := os.Open(dir + "ns/user")
	if err != nil {
		return nil, fmt.Errorf("open the new user namespace: %w", err)
	}
	return ns, nil
}

// procfsPid reads the "Pid:" line of a pidfd's fdinfo: the pid in the
// pid namespace of the /proc it was read from.
func procfsPid(pidfd int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", pidfd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("pidfd fdinfo: unexpected %q", line)
			}
			return pid, nil
		}
	}
	return 0, errors.New("pidfd fdinfo has no Pid line")
}

func formatIDMap(m []specs.LinuxIDMapping) []byte {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return []byte(b.String())
}

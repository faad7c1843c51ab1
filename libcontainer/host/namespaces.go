package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// NamespaceKinds are the namespaces /proc/self/ns names, in the
// kernel's spelling (mnt, net), not the runtime-spec's (mount, network).
var NamespaceKinds = []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}

// SpecNamespace is the runtime-spec name of a /proc/self/ns kind.
func SpecNamespace(kind string) string {
	switch kind {
	case "mnt":
		return "mount"
	case "net":
		return "network"
	}
	return kind
}

// Namespaces says, for each kind, whether the kernel has it: a kernel
// built without CONFIG_<KIND>_NS has no /proc/self/ns entry for it.
func Namespaces() map[string]Result {
	m := make(map[string]Result, len(NamespaceKinds))
	for _, k := range NamespaceKinds {
		_, err := os.Lstat("/proc/self/ns/" + k)
		if err != nil {
			m[k] = absent("%v", err)
		} else {
			m[k] = ok("")
		}
	}
	return m
}

// UserNamespaces tells whether a user namespace can be made here: the
// kernel has them, user.max_user_namespaces allows them, and making one
// with a uid/gid map works (an LSM or a seccomp filter can still refuse).
func UserNamespaces() Result {
	if _, err := os.Lstat("/proc/self/ns/user"); err != nil {
		return absent("%v", err)
	}
	data, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	if err != nil {
		return absent("%v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return absent("/proc/sys/user/max_user_namespaces: %q", data)
	}
	if n == 0 {
		return absent("/proc/sys/user/max_user_namespaces is 0")
	}
	if err := tryUserNS(); err != nil {
		return absent("%v", err)
	}
	return ok(fmt.Sprintf("max_user_namespaces=%d", n))
}

// tryUserNS makes a child in a new user namespace with uid and gid maps
// and has it exec a path that does not exist: the ENOENT of that execve
// proves the clone and the maps worked, and the child is gone at once.
// (No ptrace, so a Yama policy against it does not hide user namespaces.)
func tryUserNS() error {
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: probeMapHost, Size: 65536}}
	_, err := syscall.ForkExec("/nonexistent/strata-userns-probe", []string{"strata-userns-probe"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, UidMappings: maps, GidMappings: maps},
	})
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case err == nil:
		return errors.New("user namespace probe: a nonexistent program ran")
	}
	return fmt.Errorf("clone(CLONE_NEWUSER) with uid/gid maps: %s", errnoName(err))
}

// probeMapHost is where the probes map container root: a range no host
// user owns files in, so the idmap probe can tell mapped from unmapped.
const probeMapHost = 1000000

// newUserNS returns, as an fd, a new user namespace that maps its ids
// 0-65535 to hostID onwards, uids and gids alike. A namespace needs a process: the child is
// made with the maps and stopped by PTRACE_TRACEME at its execve, so it
// never runs an instruction of the program; it is killed once its
// namespace is open. Go writes the maps before the child execs.
func newUserNS(hostID int) (*os.File, error) {
	// The tracer is the thread that started the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostID, Size: 65536}}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"strata-userns-probe"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: maps,
		GidMappings: maps,
		Ptrace:      true,
		Pdeathsig:   unix.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a process in a new user namespace: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	// The child is stopped and not reaped: its pid is not reused yet.
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	if err != nil {
		return nil, fmt.Errorf("open the new user namespace: %w", err)
	}
	return ns, nil
}

// InUserNamespace says whether this process runs in a user namespace other
// than the host's (its uid_map is not the whole identity map), as strata
// does under rootless podman: root there may not make cgroups or device
// nodes. A command asks several times (its root directory, rootless mode,
// the bind mounts); the file is read once per process.
var InUserNamespace = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
})

package libcontainer

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// signalPidNamespace signals every process in the pid namespace of init
// (a rootless container's, which has no cgroup to list them), found by
// their /proc/PID/ns/pid link. Each is signalled through a pidfd opened
// before its namespace is checked, so a pid reused in between is not hit.
func signalPidNamespace(init int, sig unix.Signal) error {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	if err != nil {
		return fmt.Errorf("--all: the container's pid namespace: %w", err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("--all: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == init {
			continue
		}
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone already
		}
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && link == ns {
			// ESRCH: it exited since; nothing to signal.
			_ = unix.PidfdSendSignal(pidfd, sig, nil, 0)
		}
		unix.Close(pidfd)
	}
	return nil
}

package bundle

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// processesIn lists the processes whose root directory is rootfs: the
// processes of a container running from the bundle. A container's init has
// its own mount namespace, so unmounting the host's copy of the overlay
// succeeds while it runs, and only this says it is still in use. The
// process's root is compared by device and inode, which the container's
// copy of the mount shares with the host's, whichever runtime started it.
func processesIn(rootfs string) ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(rootfs, &want); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("stat %s: %w", rootfs, err)
	}
	proc, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range proc {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		// Gone meanwhile, or a kernel thread: neither is in the bundle.
		if unix.Stat("/proc/"+e.Name()+"/root", &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// inUseError says which processes run from a bundle that rm was asked to remove.
func inUseError(dir string, pids []int) error {
	shown := make([]string, 0, len(pids))
	for _, pid := range pids {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		shown = append(shown, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(comm))))
	}
	return fmt.Errorf("bundle rm %s: in use by %d process(es) whose root is its rootfs: %s; stop the container with the runtime that started it first",
		dir, len(pids), strings.Join(shown, ", "))
}

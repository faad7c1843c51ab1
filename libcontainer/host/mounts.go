package host

import (
	"os"

	"github.com/moby/sys/mountinfo"
)

// Mounts is the mount table of the calling thread's mount namespace, as
// mountinfo.GetMounts gives it, without the thread lock GetMounts takes.
//
// GetMounts locks the goroutine to its thread while it reads
// /proc/thread-self/mountinfo, and the first LockOSThread of a Go program
// starts the runtime's template thread: one more thread, with its stack
// and its wakes, in every `run` and `exec` (a `run` reads the table twice:
// for the v1 cgroup paths and for the cgroup mount's hierarchies). The
// lock is not needed for a right answer: the kernel takes the namespace
// when the file is opened (mounts_open_common), the open is one system
// call on one thread, and a goroutine runs only on an unlocked thread,
// whose namespace is the process's own, or on the thread it is locked to.
// The reads may then happen on any thread.
func Mounts(filter mountinfo.FilterFunc) ([]*mountinfo.Info, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mountinfo.GetMountsFromReader(f, filter)
}

package libcontainer

import (
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
)

// Born in the cgroup: the init and exec'd processes are started with
// clone3(CLONE_INTO_CGROUP) (Linux 5.7+) into the cgroup2 directory (a pure
// v2 host's, or a hybrid host's unified one), so they are in it from their
// first instruction and the parent writes no cgroup.procs (a write that
// often waits for an RCU grace period, ~10 ms without favordynmods; see
// cgroups.Entry, which also covers the v1 hierarchies). Go's
// syscall.ForkExec uses clone3 when SysProcAttr.UseCgroupFD is set.
//
// nsenter.c may fork the init proper with clone(CLONE_PARENT) (a new or
// joined pid or time namespace). CLONE_PARENT changes the child's parent,
// not its cgroup: the kernel gives a child the css_set of the task that
// calls clone (cgroup_css_set_fork takes task_css_set(current)), so the
// grandchild is born in the container's cgroup too.

// clone3Refused is set once the kernel or a seccomp policy has refused
// clone3 with CLONE_INTO_CGROUP in this strata process: later starts go
// the cgroup.procs way without trying again. Probed by trying, never
// guessed from the kernel version.
var clone3Refused atomic.Bool

// placement says how a started process got into its cgroup.
type placement struct {
	born bool   // in its cgroups from the start: nothing left to do
	why  string // when not born though a cgroup fd was given: the refusal
	// dir and tasks: born in the cgroup2 directory (clone3), moved itself
	// into the v1 hierarchies (cgroups.Entry.Tasks).
	dir, tasks bool
}

// how names the way the process was placed, for --debug.
func (p placement) how() string {
	switch {
	case p.dir && p.tasks:
		return "clone3 CLONE_INTO_CGROUP, and v1 tasks by the process itself"
	case p.dir:
		return "clone3 CLONE_INTO_CGROUP"
	}
	return "v1 tasks by the process itself"
}

// startInCgroup starts spec, born in entry's cgroup2 directory when it
// has one (nil entry: none, the caller moves it in as before). The process
// writes entry's v1 tasks files itself, wherever it was born. When clone3
// is refused it starts spec again the classic way, once.
func startInCgroup(spec *spawnSpec, entry *cgroups.Entry) (*child, placement, error) {
	if entry == nil {
		c, err := spec.start()
		return c, placement{}, err
	}
	tasks := len(entry.Tasks) > 0
	if entry.Dir == nil {
		c, err := spec.start()
		return c, placement{born: tasks, tasks: tasks}, err
	}
	if clone3Refused.Load() {
		c, err := spec.start()
		return c, placement{why: "clone3 CLONE_INTO_CGROUP refused earlier"}, err
	}
	into := *spec
	sys := *spec.sys
	sys.UseCgroupFD, sys.CgroupFD = true, int(entry.Dir.Fd())
	into.sys = &sys
	c, err := into.start()
	if err == nil {
		return c, placement{born: true, dir: true, tasks: tasks}, nil
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return nil, placement{}, err
	}
	switch errno {
	case unix.ENOSYS, unix.EPERM, unix.E2BIG, unix.EINVAL:
		// No clone3 (ENOSYS, also what container seccomp profiles
		// return for it), a seccomp filter's EPERM, a kernel that
		// knows clone3 but not this struct size or flag: the host's
		// answer, the same for every start.
		clone3Refused.Store(true)
	case unix.EAGAIN:
		// The cgroup's pids.max is reached: a clone into it counts
		// against the limit, a move by cgroup.procs does not. An exec
		// into a full container has always worked; it still does.
		// The cgroup's answer, not the host's: not remembered.
	case unix.EACCES:
		// Not ours to move into from here: a rootless exec into a
		// scope of the user's systemd manager, run from outside that
		// manager's subtree (the move needs write access to the
		// cgroup both ends share, root's). The join after start asks
		// systemd instead (cgroups.Manager.Join). Not remembered.
	default:
		return nil, placement{}, err
	}
	why := fmt.Sprintf("clone3 CLONE_INTO_CGROUP refused: %v", errno)
	c, err = spec.start()
	return c, placement{why: why}, err
}

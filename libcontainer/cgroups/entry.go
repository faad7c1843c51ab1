package cgroups

import (
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// Entry is what a new process (a container's init, or a process exec'd into
// it) needs to be in the container's cgroups from its start, with no
// cgroup.procs write by the parent. Such a write moves a whole thread group,
// which takes cgroup_threadgroup_rwsem for writing, and that waits for an
// RCU grace period: about 2 ms per hierarchy here, 10-20 ms for the nine of
// a cgroup v1 host, on the critical path of every create. Two ways avoid it:
//
//   - the cgroup2 directory (the pure v2 host's, or a hybrid host's unified
//     one) is given to clone3(CLONE_INTO_CGROUP): the process is born there
//     (cgroupclone_linux.go in libcontainer);
//   - each v1 hierarchy's tasks file is opened here and written "0" by the
//     process itself while it is still single-threaded (nsenter.c, before it
//     joins or makes a namespace). A write to tasks moves one thread, and
//     when that thread is the writer the kernel skips the rwsem (Linux 6.0,
//     "cgroup: Optimize single thread migration"); older kernels take it,
//     which costs what the parent's write did. The kernel checks the
//     credentials the file was opened with (the parent's), so a process
//     already in a user namespace may write it.
type Entry struct {
	// Dir is the cgroup2 directory, O_PATH, for clone3; nil on a pure v1
	// host.
	Dir *os.File
	// Tasks are the v1 hierarchies' tasks files, open for writing, one per
	// directory (co-mounted controllers share one), in path order.
	Tasks []*os.File
}

// OpenEntry opens the cgroup directories paths (a Manager's, or those a
// container's state recorded) for a process to enter them.
func OpenEntry(paths map[string]string) (*Entry, error) {
	e := &Entry{}
	var v1 []string
	seen := map[string]bool{}
	for key, dir := range paths {
		switch {
		case key == "":
			// The cgroup2 hierarchy: every path but v1's.
		case !seen[dir]:
			seen[dir] = true
			v1 = append(v1, dir)
		}
	}
	sort.Strings(v1)
	if dir, ok := paths[""]; ok {
		f, err := OpenForClone(dir)
		if err != nil {
			return nil, err
		}
		e.Dir = f
	}
	for _, dir := range v1 {
		fd, err := unix.Open(dir+"/tasks", unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("open cgroup %s/tasks for the process to enter: %w", dir, err)
		}
		e.Tasks = append(e.Tasks, os.NewFile(uintptr(fd), dir+"/tasks"))
	}
	return e, nil
}

// Close closes what the process has inherited by now.
func (e *Entry) Close() {
	if e == nil {
		return
	}
	if e.Dir != nil {
		e.Dir.Close()
	}
	for _, f := range e.Tasks {
		f.Close()
	}
}

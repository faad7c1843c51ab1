package main

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// The Go runtime's monitor thread (sysmon) sleeps 20 µs at a time for the
// first millisecond a program is busy and backs off only after that
// (runtime/proc.go, sysmon). A strata command lives 5 to 15 ms, so that is
// about 60 wakes per `run` (perf record -e sched:sched_switch: 61 of its
// 107 context switches). On the 2-core VM the benchmarks run on, each wake
// costs some 20 µs of CPU, as reprogramming the timer exits to the
// hypervisor: a strata built with a runtime patched to start those sleeps
// at 5 ms spent 1.4 to 1.9 ms less CPU per `run`, of 12 to 15
// (docs/benchmarks.md).
//
// A thread's timer slack (prctl(2) PR_SET_TIMERSLACK, proc(5)
// timerslack_ns) is how much later than asked the kernel may end its
// sleeps, to batch wakeups. slackMonitor gives sysmon a slack of
// monitorSlack: its 20 µs sleeps last about that long, a few wakes per
// command. What that delays is sysmon's own work: handing a P on from a
// goroutine that has been in a system call for a while (when no other P
// is idle), preempting a goroutine that ran for 10 ms, polling the network
// when nothing else has for 10 ms. For a command that lives milliseconds,
// a P handed on up to 2 ms late is the one cost, and the rare one.
//
// Nothing else changes. The other threads keep their slack, and so do the
// processes strata starts: a child inherits the slack of the thread that
// forks it, and sysmon runs no Go code, so it forks nothing. sysmon cannot
// set its own slack, so it is set from here through
// /proc/TID/timerslack_ns; the kernel allows that for another thread only
// with CAP_SYS_NICE, so a rootless strata goes without. It is set in main,
// not earlier: the C constructor runs before sysmon exists, and a slack
// set there would go to every thread the runtime starts before main.
const monitorSlack = "2000000" // ns

// slackMonitor finds sysmon and sets its timer slack. Any failure leaves
// the runtime as it was.
func slackMonitor() {
	tid := monitorThread()
	if tid == 0 {
		return
	}
	// A thread's own files are under /proc/TID too (not listed there);
	// timerslack_ns is not under /proc/self/task/TID.
	fd, err := unix.Open("/proc/"+strconv.Itoa(tid)+"/timerslack_ns", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	unix.Write(fd, []byte(monitorSlack))
	unix.Close(fd)
}

// monitorThread is sysmon's thread id, or 0. sysmon is the first thread the
// runtime starts (runtime.main, before any goroutine of the program), and
// the kernel hands out ids in increasing order until they wrap around at
// pid_max: so sysmon has the lowest id above the main thread's, unless some
// thread's id is below the main thread's (the ids wrapped while the threads
// were made), and then none is taken. Ids are compared as this /proc shows
// them, which may be another pid namespace's than os.Getpid's. (Asking each
// thread which system call it sleeps in instead failed under load, where
// sysmon is mostly waiting for a CPU between two sleeps.)
func monitorThread() int {
	link, err := os.Readlink("/proc/self")
	if err != nil {
		return 0
	}
	self, err := strconv.Atoi(link)
	if err != nil {
		return 0
	}
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return 0
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	low := 0
	for _, n := range names {
		tid, err := strconv.Atoi(n)
		switch {
		case err != nil || tid == self:
		case tid < self:
			return 0 // wrapped
		case low == 0 || tid < low:
			low = tid
		}
	}
	return low
}

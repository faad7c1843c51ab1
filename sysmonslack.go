package main

import (
	"bytes"
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
// runtime starts (runtime.main, before any goroutine of the program), so it
// has the lowest id but the main thread's while ids have not wrapped
// around; and it is the thread that sleeps in nanosleep(2), where the
// others wait in futex(2) or epoll_pwait(2). So the lowest id is taken if
// that thread is seen in nanosleep: asked a few times, as under load it is
// often between two sleeps, waiting for a CPU ("running"). Seen waiting
// in anything else, it is taken for another thread (the ids wrapped), or
// sysmon in one of its rare other waits, and none is given the slack.
func monitorThread() int {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return 0
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	self, low := os.Getpid(), 0
	for _, n := range names {
		if tid, err := strconv.Atoi(n); err == nil && tid != self && (low == 0 || tid < low) {
			low = tid
		}
	}
	if low == 0 {
		return 0
	}
	// The system call a thread is blocked in, or "running".
	path := "/proc/self/task/" + strconv.Itoa(low) + "/syscall"
	nanosleep := []byte(strconv.Itoa(unix.SYS_NANOSLEEP) + " ")
	var buf [32]byte
	for range 5 {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0
		}
		n, _ := unix.Read(fd, buf[:])
		unix.Close(fd)
		switch {
		case n > 0 && bytes.HasPrefix(buf[:n], nanosleep):
			return low
		case !bytes.HasPrefix(buf[:max(n, 0)], []byte("running")):
			return 0
		}
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) // let it have the CPU
	}
	return 0
}

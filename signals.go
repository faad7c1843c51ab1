package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// relayed are the signals a foreground run or exec passes on to its
// process: the POSIX ones a user or a supervisor sends, and SIGRTMIN+3,
// systemd's "halt". runc relays every signal, but os/signal takes about
// 50 µs per signal to start catching one and twice that to stop: catching
// all 64 cost 3 to 10 ms of every foreground run. SIGCHLD (strata's own
// child), SIGURG (the Go runtime's preemption) and SIGWINCH (the pty
// relay's) are strata's, never relayed.
var relayed = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPWR,
	unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGPROF, unix.SIGIO, unix.Signal(sigRTMin + 3),
}

// sigRTMin is SIGRTMIN as programs see it: the kernel's 32 and 33 are the
// C library's own.
const sigRTMin = 34

// signalRelay passes the signals a foreground run or exec receives on to
// its process. nil when detached.
type signalRelay struct {
	ch     chan os.Signal
	caught chan struct{} // closed once ch receives them all
}

// catchSignals starts catching the signals, in the background: os/signal
// hands each one to the runtime's signal-mask thread and waits for it
// (0.6 ms for these, measured here), time the caller spends loading the
// config or state meanwhile. The caller calls ready before the process
// exists, so that none is lost. They are never released: strata exits once
// the process has.
func catchSignals(detach bool) *signalRelay {
	if detach {
		return nil
	}
	r := &signalRelay{ch: make(chan os.Signal, 32), caught: make(chan struct{})}
	go func() {
		signal.Notify(r.ch, relayed...)
		close(r.caught)
	}()
	return r
}

// ready returns once every relayed signal is caught.
func (r *signalRelay) ready() {
	if r != nil {
		<-r.caught
	}
}

// waitFor relays signals to the process pid until wait returns its exit
// code.
func (r *signalRelay) waitFor(pid int, wait func() (int, error)) (int, error) {
	go func() {
		for s := range r.ch {
			unix.Kill(pid, s.(unix.Signal))
		}
	}()
	return wait()
}

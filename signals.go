package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/sigrelay"
)

// relayed are the signals a foreground run or exec passes on to its
// process: the POSIX ones a user or a supervisor sends, and SIGRTMIN+3,
// systemd's "halt". runc relays every signal; catching one costs little
// (sigrelay), but each is one more sigaction at every start, and these are
// the ones anybody sends. Not the rest of the real-time range: the C
// library keeps some of it for itself (musl's setuid across threads uses
// 34). SIGCHLD (strata's own child), SIGURG (the Go runtime's preemption)
// and SIGWINCH (the pty relay's) are strata's, never relayed.
var relayed = []unix.Signal{
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
	caught *os.File       // sigrelay's pipe, or
	ch     chan os.Signal // os/signal's channel, when strata inherited some blocked
}

// catchSignals starts catching the signals, before the process exists, so
// that none is lost. They are never released: strata exits once the
// process has.
func catchSignals(detach bool) (*signalRelay, error) {
	if detach {
		return nil, nil
	}
	blocked, err := sigrelay.Blocked(relayed)
	if err != nil {
		return nil, err
	}
	if len(blocked) > 0 {
		// Only os/signal's thread unblocks them (at about 50 µs of CPU
		// a signal).
		r := &signalRelay{ch: make(chan os.Signal, 32)}
		for _, s := range relayed {
			signal.Notify(r.ch, s)
		}
		return r, nil
	}
	f, err := sigrelay.Catch(relayed)
	if err != nil {
		return nil, err
	}
	return &signalRelay{caught: f}, nil
}

// waitFor relays signals to the process pid until wait returns its exit
// code.
func (r *signalRelay) waitFor(pid int, wait func() (int, error)) (int, error) {
	go r.relay(pid)
	return wait()
}

func (r *signalRelay) relay(pid int) {
	if r.ch != nil {
		for s := range r.ch {
			unix.Kill(pid, s.(unix.Signal))
		}
		return
	}
	b := make([]byte, 64)
	for {
		n, err := r.caught.Read(b)
		if err != nil {
			log.Warnf("relaying signals stopped: %v", err)
			return
		}
		for _, s := range b[:n] {
			unix.Kill(pid, unix.Signal(s))
		}
	}
}

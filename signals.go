package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer"
)

// signalRelay passes the signals a foreground run or exec receives on to
// its process, as runc does. nil when detached.
type signalRelay chan os.Signal

func catchSignals(detach bool) signalRelay {
	if detach {
		return nil
	}
	r := make(signalRelay, 32)
	signal.Notify(r)
	return r
}

func (r signalRelay) stop() {
	if r != nil {
		signal.Stop(r)
	}
}

// waitFor relays signals to p until it exits and returns its exit code.
func (r signalRelay) waitFor(p *libcontainer.InitProcess) (int, error) {
	go func() {
		for s := range r {
			sig := s.(unix.Signal)
			switch sig {
			// strata's own: its children exiting, the Go runtime's
			// preemption, and window changes (the pty relay's).
			case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH:
				continue
			}
			unix.Kill(p.Pid, sig)
		}
	}()
	return p.Wait()
}

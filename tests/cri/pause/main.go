// Command pause is the sandbox (pause) container of the CRI tests' pods: it
// holds the pod's namespaces open and does nothing else. As pid 1 of a pod
// that shares its pid namespace, it reaps the orphans the pod's other
// containers leave. It exits 0 on SIGINT or SIGTERM, as Kubernetes' pause does.
// Built static (CGO_ENABLED=0) into the test's pause image; no registry the
// tests can reach serves registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every child that has exited; one SIGCHLD may stand for many.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

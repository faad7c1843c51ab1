// Package nsenter moves the container init into its namespaces before the Go
// runtime starts.
//
// The kernel refuses setns(2) into a user namespace for a multithreaded
// process, and a mount or pid namespace change by one thread would leave the
// Go runtime's other threads behind. So the namespace work is done by a C
// constructor that runs in the re-executed `strata init` while the process is
// still single-threaded; see nsenter.c for the protocol it speaks with the
// parent (it is the first half of libcontainer/sync.go's diagram).
//
// Importing the package for its side effect is all the main package does;
// in every process that is not a container init the constructor returns at
// once.
package nsenter

/*
#cgo CFLAGS: -Wall -Werror -O2
// Static: the exec stage runs after pivot_root, where the container may
// have no dynamic loader; and an exec without one is faster.
#cgo LDFLAGS: -static
extern void strata_nsenter(void);
void __attribute__((constructor)) strata_nsenter_init(void) { strata_nsenter(); }
*/
import "C"

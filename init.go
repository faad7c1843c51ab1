package main

import (
	"github.com/strata-runtime/strata/libcontainer"
	// The container init's namespace work runs in this package's C
	// constructor, before the Go runtime starts.
	_ "github.com/strata-runtime/strata/nsenter"
)

// runInit is `strata init`: the container's first process, which strata
// itself starts (never a user). main dispatches to it before any CLI
// parsing so the init starts as fast as it can.
func runInit() {
	libcontainer.Init()
}

//go:build tools

// Package tools pins the programs the test harnesses build (see the Makefile's
// validation target). It is never compiled: the imports only keep the modules
// and their checksums in go.mod and go.sum.
package tools

import (
	// runtimetest runs inside each container of the OCI validation suite.
	_ "github.com/opencontainers/runtime-tools/cmd/runtimetest"
	// validation/util is what every validation/<test> executable is built on.
	_ "github.com/opencontainers/runtime-tools/validation/util"
)

//go:build tools

// Package containerd2 pins containerd 2.x, which tests/cri runs beside
// Debian's containerd 1.6 (the Makefile's cri-tools target builds both
// binaries with CGO_ENABLED=0 into tests/cri/bin/containerd2). It is a
// module of its own: containerd 2's Kubernetes and gRPC dependencies need
// not agree with cri-tools' in tools/cri. It is never compiled: the
// imports only keep the module and its checksums in go.mod and go.sum.
package containerd2

import (
	// The daemon, whose CRI plugin tests/cri drives with crictl.
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	// The runc shim of the same release: it calls the handler's
	// BinaryName (strata or runc) for every task.
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
)

//go:build tools

// Package cri pins the programs tests/cri builds (see the Makefile's cri and
// critest targets). It is a module of its own, not part of tools/go.mod:
// cri-tools needs a newer opencontainers/selinux than runtime-tools' pinned
// commit builds with (label.FileLabel is gone), and one module graph would
// force the newer one on both. It is never compiled: the imports only keep
// the modules and their checksums in go.mod and go.sum.
package cri

import (
	// crictl drives containerd's CRI in tests/cri.
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
	// critest is the test binary of cri-tools' cmd/critest (go test -c),
	// whose only file is a _test.go: these are the packages it is made of.
	_ "sigs.k8s.io/cri-tools/pkg/benchmark"
	_ "sigs.k8s.io/cri-tools/pkg/validate"

	// The CNI plugins containerd's CRI calls for pod networks: a bridge in
	// the tests' private network namespace, host-local addresses, loopback.
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
)

// Package cri runs Kubernetes' path to a low-level runtime on this machine:
// containerd's CRI plugin, with a `strata` runtime handler (the runc shim,
// io.containerd.runc.v2, with BinaryName set to the strata under test) beside
// a `runc` handler, driven through crictl (`make cri`) and judged by critest
// (`make critest`). containerd, the image registry it pulls from and the CNI
// bridge live in a network namespace of the test's; every directory, socket
// and cgroup is the test's own and is removed at the end, failed or not.
// See docs/kubernetes.md. Needs root, containerd and docker-registry from
// apt, and the tools the Makefile builds ($CRI_TOOLS).
//
// This file has no build tag, so that `go test ./tests/cri/` without -tags
// cri reports "no test files" instead of failing to set up.
package cri

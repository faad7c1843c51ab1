// Package e2e drives real container engines (containerd with ctr, dockerd
// with the docker client, podman) with the runtime under test as their OCI
// runtime: strata by default, or $RUNTIME (for example /usr/sbin/runc) to prove
// the harness itself. Each engine runs with its own root, state, socket and
// exec-root directories in a temporary directory, never the machine's
// defaults, and is stopped and cleaned up at the end of its test, failed or
// not. Run it with `make e2e` (the build tag keeps `go test ./...` from
// compiling it). Needs root and the engines from apt.
//
// This file has no build tag, so that `go test ./tests/e2e/` without -tags e2e
// reports "no test files" instead of failing to set up.
package e2e

// Package checkpoint tests `checkpoint` and `restore` end to end against the
// runtime under test (strata, or $RUNTIME such as /usr/sbin/runc), with CRIU.
//
// It is behind the build tag checkpoint: Debian's criu 3.17 cannot dump on
// the development machine's kernel (6.18: its vDSO probe fails), so `go test
// ./tests/...` (make test) does not compile it, and tests/vm/run.sh builds it
// with -tags checkpoint for the kernel 6.1 guest, where CRIU works (the suite
// `checkpoint`, docs/hosts.md). Without criu installed every test fails: a
// missing CRIU is a broken host here, never a skip.
//
// This file has no build tag, so that `go test ./tests/checkpoint/` without
// the tag reports "no test files" instead of failing.
package checkpoint

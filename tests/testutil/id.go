package testutil

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

var idCounter atomic.Int64

var notIDChar = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// UniqueID returns a container ID unique across tests, test binaries and runs
// in parallel: the test's name (for whoever reads a leftover) plus this
// process's PID and a counter.
func UniqueID(t testing.TB) string {
	name := strings.Trim(notIDChar.ReplaceAllString(strings.TrimPrefix(t.Name(), "Test"), "-"), "-")
	if len(name) > 32 {
		name = name[:32]
	}
	return fmt.Sprintf("%s-%d-%d", strings.ToLower(name), os.Getpid(), idCounter.Add(1))
}

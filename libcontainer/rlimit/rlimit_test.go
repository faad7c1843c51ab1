package rlimit

import (
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	if r, err := Parse("RLIMIT_NOFILE"); err != nil || r != syscall.RLIMIT_NOFILE {
		t.Errorf("Parse(RLIMIT_NOFILE) = %d, %v", r, err)
	}
	if r, err := Parse("RLIMIT_RTTIME"); err != nil || r != 15 {
		t.Errorf("Parse(RLIMIT_RTTIME) = %d, %v; want 15", r, err)
	}
	if _, err := Parse("nofile"); err == nil {
		t.Error("Parse(nofile) succeeded; names are the spec's upper-case RLIMIT_ form")
	}
}

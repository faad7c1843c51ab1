package sigrelay

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A signal sent to the process arrives in the pipe as its number, once per
// signal, whichever thread the kernel gave it to.
func TestCatch(t *testing.T) {
	sigs := []unix.Signal{unix.SIGUSR2, unix.SIGPWR}
	f, err := Catch(sigs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range []unix.Signal{unix.SIGPWR, unix.SIGUSR2, unix.SIGUSR2} {
		if err := unix.Kill(unix.Getpid(), s); err != nil {
			t.Fatal(err)
		}
		f.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 8)
		n, err := f.Read(b)
		if err != nil {
			t.Fatalf("after %v: %v", s, err)
		}
		if n != 1 || unix.Signal(b[0]) != s {
			t.Fatalf("after %v the pipe held %v", s, b[:n])
		}
	}
}

// Blocked names the signals the calling thread blocks, and only those.
func TestBlocked(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	set.Val[(unix.SIGXCPU-1)/64] |= 1 << ((unix.SIGXCPU - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		t.Fatal(err)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	got, err := Blocked([]unix.Signal{unix.SIGHUP, unix.SIGXCPU, unix.SIGIO})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []unix.Signal{unix.SIGXCPU}) {
		t.Errorf("Blocked = %v, want [SIGXCPU]", got)
	}
}

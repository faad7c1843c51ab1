//go:build cri

package cri

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// netns is a network namespace of the test's, kept by a bind mount on a
// file in its work directory (not /run/netns: nothing of the machine's).
// containerd, the registry, crictl and critest all run in it, so the
// registry's 127.0.0.1, the CRI streaming server's and the CNI bridge are
// the test's alone, and any port is free.
type netns string

func newNetns(t *testing.T, dir string) netns {
	t.Helper()
	p := filepath.Join(dir, "netns")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// unshare --net=FILE persists the namespace on FILE; lo starts down.
	if out, err := exec.Command("unshare", "--net="+p, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("making a network namespace on %s: %v\n%s", p, err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting the network namespace %s: %v", p, err)
		}
	})
	return netns(p)
}

// command is name args run inside the namespace; only the network
// namespace changes (the mount namespace stays the test's, so what
// containerd mounts is seen and checked from here).
func (n netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + string(n), "--", name}, args...)...)
}

// do runs f on a thread that has joined the namespace (a socket is made in
// the namespace of the thread that makes it), then puts the thread back in
// the test's namespace. The thread must survive: a daemon started with a
// parent-death signal gets it when the thread that forked it exits, and
// that may be this one. Only if it cannot go back does it stay locked, and
// end with the goroutine.
func (n netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(home)
		if err = setns(string(n)); err == nil {
			err = f()
			if unix.Setns(home, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
		} else {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// setns moves the calling thread into the network namespace at path.
func setns(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}

package cgroups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NotifyOOM returns a channel that receives a value for each OOM event in
// the container's memory cgroup and is closed once the cgroup is removed.
// v1: an eventfd registered on memory.oom_control through
// cgroup.event_control. v2: inotify on memory.events, whose oom_kill count
// grows.
func (m *Manager) NotifyOOM() (<-chan struct{}, error) {
	if m.v2 {
		return notifyOOMv2(m.m.Path(""))
	}
	dir := m.m.Path("memory")
	if dir == "" {
		return nil, errors.New("events: the memory cgroup controller is not mounted")
	}
	return notifyOOMv1(dir)
}

func notifyOOMv1(dir string) (<-chan struct{}, error) {
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer ctl.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("events: eventfd: %w", err)
	}
	reg := fmt.Sprintf("%d %d", efd, ctl.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0o200); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("events: register OOM eventfd: %w", err)
	}
	ch := make(chan struct{}, 16)
	go func() {
		defer close(ch)
		defer unix.Close(efd)
		buf := make([]byte, 8)
		for {
			n, err := unix.Read(efd, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n != 8 {
				return
			}
			// The eventfd also fires when the cgroup is removed.
			if _, err := os.Lstat(filepath.Join(dir, "cgroup.event_control")); err != nil {
				return
			}
			for range binary.NativeEndian.Uint64(buf) {
				ch <- struct{}{}
			}
		}
	}()
	return ch, nil
}

func notifyOOMv2(dir string) (<-chan struct{}, error) {
	events := filepath.Join(dir, "memory.events")
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("events: inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, events, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("events: watch %s: %w", events, err)
	}
	last := oomKills(events)
	ch := make(chan struct{}, 16)
	go func() {
		defer close(ch)
		defer unix.Close(fd)
		buf := make([]byte, 4096)
		for {
			n, err := unix.Read(fd, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n < unix.SizeofInotifyEvent {
				return
			}
			// struct inotify_event: wd int32, mask uint32, ...
			if binary.NativeEndian.Uint32(buf[4:8])&unix.IN_IGNORED != 0 {
				return // the cgroup is gone
			}
			now := oomKills(events)
			for ; last < now; last++ {
				ch <- struct{}{}
			}
		}
	}()
	return ch, nil
}

// oomKills reads the oom_kill count of a v2 memory.events file.
func oomKills(path string) uint64 {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

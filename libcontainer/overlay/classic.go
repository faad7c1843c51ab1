package overlay

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The classic overlay mount, for kernels whose overlayfs has no lowerdir+
// (before 6.8; Debian 12 runs 6.1, RHEL 9 5.14).
//
// It goes through mount(2), not fsopen: fsconfig copies at most 255 bytes of
// a string value, so one "lowerdir=" of a few store paths would not pass,
// and before 6.5 overlayfs has no fs_context anyway; the kernel's legacy shim
// joins every key=value into one page and refuses any value with a comma.
// mount(2) takes the whole option string, up to one page including its NUL.
//
// Two forms, tried in this order:
//
//   - absolute: lowerdir=/store/layers/sha256/HEX:...,upperdir=...,workdir=...
//     with ':' ',' and '\' escaped as overlayfs expects. Readable in
//     /proc/self/mountinfo; fits about 45 layers with the default store.
//   - short: every directory is opened O_PATH first and named by its fd
//     number, "lowerdir=12:11:10,upperdir=9,workdir=8", on a thread whose
//     working directory is /proc/thread-self/fd. That is about 4 bytes a
//     layer instead of ~90, so some 900 layers fit in a page (overlayfs stops
//     at 500), and the directories mounted are the ones opened: nothing can
//     swap a path between the open and the mount.
//
// containerd shortens with paths relative to its snapshot directory, whose
// names are small integers, and containers/storage keeps a directory of
// 26-character symlinks ("l/XXXX") per store. strata's layer names are 64-hex
// digests, so paths relative to the store would still cost ~65 bytes a
// layer (62 layers), and a link directory would be more state for gc to
// keep right; fd numbers need neither.

// mountClassic mounts with a single lowerdir= option through mount(2).
// forceShort skips the absolute form, for tests.
func mountClassic(target string, lowers []string, upper, work string, o Options, forceShort bool) error {
	if len(lowers) == 0 {
		return fmt.Errorf("overlay on %s: no lower layers", target)
	}
	limit := unix.Getpagesize() - 1 // the kernel copies one page, NUL included
	if !forceShort {
		esc := make([]string, len(lowers))
		for i, l := range lowers {
			esc[i] = escapeOverlayPath(l)
		}
		opts := classicOptions(strings.Join(esc, ":"), escapeOverlayPath(upper), escapeOverlayPath(work), o)
		if len(opts) <= limit {
			return classicMount(target, opts, nil)
		}
	}
	return mountShort(target, lowers, upper, work, o, limit)
}

// mountShort is the short form: fd numbers under /proc/thread-self/fd.
func mountShort(target string, lowers []string, upper, work string, o Options, limit int) error {
	// The target is resolved after the chdir, so it must not be relative.
	target, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	open := func(p string) (string, error) {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", fmt.Errorf("overlay on %s: open %s: %w", target, p, err)
		}
		fds = append(fds, fd)
		return strconv.Itoa(fd), nil
	}
	names := make([]string, len(lowers))
	for i, l := range lowers {
		if names[i], err = open(l); err != nil {
			return err
		}
	}
	u, err := open(upper)
	if err != nil {
		return err
	}
	w, err := open(work)
	if err != nil {
		return err
	}
	opts := classicOptions(strings.Join(names, ":"), u, w, o)
	if len(opts) > limit {
		return fmt.Errorf("overlay on %s: %d layers need a %d-byte option string even with fds for paths, over mount(2)'s limit of %d bytes (one page)",
			target, len(lowers), len(opts), limit)
	}
	// Relative paths are resolved against the caller's working directory:
	// by the legacy shim at mount time, by 6.5+'s parser as it reads each
	// option. Both happen inside mount(2), so the directory must be set for
	// the whole call; chdir is per process in Go, hence a throwaway thread.
	return OnThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("overlay on %s: unshare(CLONE_FS) for the short lowerdir form: %w", target, err)
		}
		if err := unix.Chdir("/proc/thread-self/fd"); err != nil {
			return fmt.Errorf("overlay on %s: chdir /proc/thread-self/fd for the short lowerdir form: %w", target, err)
		}
		return classicMount(target, opts, lowers)
	})
}

// OnThrowawayThread runs f on an OS thread that no other goroutine will run
// on, before or after, so f may change per-thread state such as the fs_struct
// it unshares (cwd, root, umask). The thread stays locked when f returns:
// the runtime then ends it instead of reusing it, and it never clones new
// threads from a locked one.
//
// The main thread is the exception: the runtime cannot end it, only parks it
// for good, still in whatever directory f left it, and its cwd is the one
// /proc/PID/cwd shows for the whole process. So if the goroutine lands there,
// it keeps the main thread to itself and starts f again on a goroutine that,
// the main thread being taken, must run on another.
func OnThrowawayThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			done <- OnThrowawayThread(f)
			runtime.UnlockOSThread()
			return
		}
		done <- f()
	}()
	return <-done
}

// classicOptions is the mount(2) data string; the three names come escaped.
func classicOptions(lowerdir, upper, work string, o Options) string {
	var b strings.Builder
	b.WriteString("lowerdir=")
	b.WriteString(lowerdir)
	for _, kv := range options(upper, work, o) {
		b.WriteString(",")
		b.WriteString(kv[0])
		if kv[1] != "" {
			b.WriteString("=")
			b.WriteString(kv[1])
		}
	}
	return b.String()
}

// escapeOverlayPath escapes what overlayfs's option parser splits on: ','
// between options, ':' between lower layers, and '\' itself.
func escapeOverlayPath(p string) string {
	if !strings.ContainsAny(p, `\:,`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '\\' || c == ':' || c == ',' {
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// classicMount calls mount(2). mount(2) has no fs context to read errors
// from: overlayfs writes them to the kernel log, so the failure carries the
// overlayfs lines that appeared there during the call. lowers, if set, are
// what the short form's fd numbers stand for, for the error message.
func classicMount(target, opts string, lowers []string) error {
	kmsg := openKmsg()
	err := unix.Mount("overlay", target, "overlay", 0, opts)
	if err == nil {
		if kmsg >= 0 {
			unix.Close(kmsg)
		}
		return nil
	}
	shown := elideLowerdir(opts)
	if lowers != nil {
		shown += fmt.Sprintf(" (numbers are fds under /proc/thread-self/fd; top layer %s, bottom %s)", lowers[0], lowers[len(lowers)-1])
	}
	return fmt.Errorf("overlay on %s: mount(2) with %q: %w%s", target, shown, err, readKmsg(kmsg))
}

// elideLowerdir keeps error messages readable for deep images: the first two
// and the last lower layer, and how many were left out.
func elideLowerdir(opts string) string {
	lower, rest, _ := strings.Cut(strings.TrimPrefix(opts, "lowerdir="), ",")
	// Escaped separators do not split: count on the unescaped form only.
	parts := splitUnescaped(lower, ':')
	if len(parts) <= 4 {
		return opts
	}
	return fmt.Sprintf("lowerdir=%s:%s:...(%d more):%s,%s", parts[0], parts[1], len(parts)-3, parts[len(parts)-1], rest)
}

func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// openKmsg opens the kernel log positioned at its end, or returns -1 (no
// /dev/kmsg, or reading it is restricted): the error then points at dmesg.
func openKmsg() int {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return -1
	}
	return fd
}

// readKmsg returns the overlayfs records written since openKmsg, formatted
// like kernelLog, and closes fd. Other processes' messages are skipped; so,
// rarely, could be another mount's overlayfs lines at the same instant.
func readKmsg(fd int) string {
	if fd < 0 {
		return " (see the kernel log, dmesg, for overlayfs's reason)"
	}
	defer unix.Close(fd)
	var msgs []string
	buf := make([]byte, 8192)
	for len(msgs) < 8 {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) { // records overwritten while we read: go on
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		// "prio,seq,usec,flags;text\n" then " KEY=value" continuation lines.
		_, text, ok := strings.Cut(string(buf[:n]), ";")
		if !ok {
			continue
		}
		text, _, _ = strings.Cut(text, "\n")
		if strings.Contains(text, "overlay") {
			msgs = append(msgs, strings.TrimSpace(text))
		}
	}
	if len(msgs) == 0 {
		return " (the kernel log has no overlayfs message for it)"
	}
	return " (kernel: " + strings.Join(msgs, "; ") + ")"
}

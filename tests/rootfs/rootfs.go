// Package rootfs builds the busybox root filesystem the integration tests run
// containers on: one static busybox binary, a symlink per applet, and the few
// files and directories a container expects (/etc/passwd, /etc/group, /tmp and
// the mount points /proc, /sys, /dev).
//
// The host's busybox is never asked to install itself (`busybox --install`
// writes into host paths); the symlinks are made here from `busybox --list`.
package rootfs

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Users of the rootfs. Tests refer to them by these IDs.
const (
	UserUID   = 1000 // "user", gid 1000
	NobodyUID = 65534
)

const passwd = `root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

const group = `root:x:0:
wheel:x:10:user
audio:x:29:
user:x:1000:
nogroup:x:65534:
`

// Build writes a busybox rootfs into dir, which must not exist yet. The source
// binary is $BUSYBOX or the first busybox on PATH; it must be statically linked
// because the rootfs holds no shared libraries.
func Build(dir string) error {
	bb, err := findBusybox()
	if err != nil {
		return err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", bb, err)
	}
	// World-readable and traversable: containers with a user namespace run as a
	// mapped uid that owns none of these files.
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "root", "home/user", "tmp", "usr/bin", "sbin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), os.ModeSticky|0o777); err != nil {
		return err
	}
	if err := copyFile(bb, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":   passwd,
		"etc/group":    group,
		"etc/hostname": "busybox\n",
		"etc/hosts":    "127.0.0.1 localhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return os.Chown(filepath.Join(dir, "home/user"), UserUID, UserUID)
}

// Cached returns the path of the shared rootfs under tests/rootfs/busybox
// (gitignored), building it on first use. Concurrent test binaries serialise
// on a lock of this source directory, and a marker written last tells a
// complete tree from one whose build was interrupted.
// Callers must not modify it: copy it (see testutil) for a bundle.
func Cached() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("rootfs: cannot locate source directory")
	}
	here := filepath.Dir(self)
	dir := filepath.Join(here, "busybox")
	marker := filepath.Join(dir, ".complete")
	lock, err := os.Open(here)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(marker); err == nil {
		return dir, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := Build(dir); err != nil {
		return "", err
	}
	return dir, os.WriteFile(marker, nil, 0o644)
}

func findBusybox() (string, error) {
	bb := os.Getenv("BUSYBOX")
	if bb == "" {
		var err error
		if bb, err = exec.LookPath("busybox"); err != nil {
			return "", fmt.Errorf("busybox not found on PATH (install busybox-static): %w", err)
		}
	}
	f, err := elf.Open(bb)
	if err != nil {
		return "", fmt.Errorf("%s: %w", bb, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked; install busybox-static", bb)
		}
	}
	return bb, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}

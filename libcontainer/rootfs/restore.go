package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// What a checkpoint and a restore (CRIU) need to know of the mounts Prepare
// made: CRIU saves and remakes the container's mount namespace itself, but
// it cannot save what comes from outside it (bind mounts of host paths) and
// it mounts on targets that must exist in the rootfs.

// Bind is a bind mount of a host path: Destination as the container sees
// it (its symlinks resolved inside the rootfs), Source on the host.
type Bind struct {
	Destination, Source string
}

// Binds lists the spec's bind mounts, their sources resolved as Prepare
// resolves them.
func Binds(rootfs, bundle string, mounts []specs.Mount) ([]Bind, error) {
	r, err := openRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var binds []Bind
	for i, m := range mounts {
		if !isBindMount(m) {
			continue
		}
		rel, err := r.resolve(m.Destination)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d]: destination %q: %w", i, m.Destination, err)
		}
		binds = append(binds, Bind{Destination: "/" + rel, Source: BindSource(bundle, m.Source)})
	}
	return binds, nil
}

// DevicePaths are the device nodes setupDev makes: the default devices and
// linux.devices.
func DevicePaths(s *specs.Spec) []string {
	var paths []string
	for _, d := range DefaultDevices {
		paths = append(paths, d.Path)
	}
	if s.Linux != nil {
		for _, d := range s.Linux.Devices {
			paths = append(paths, filepath.Clean(d.Path))
		}
	}
	return paths
}

func isBindMount(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	opts, err := ParseOptions(m.Options)
	return err == nil && opts.Flags&unix.MS_BIND != 0
}

// MakeMountpoints creates the targets of the spec's mounts in the rootfs
// (a directory, or an empty file for a bind of a file), as Prepare does
// before it mounts: a restore may be given a rootfs that never had them.
// Targets below a tmpfs mount are left out: CRIU restores the tmpfs with
// its contents. Cgroup mounts need none: /sys brings /sys/fs/cgroup.
func MakeMountpoints(rootfs, bundle string, mounts []specs.Mount) error {
	r, err := openRoot(rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	var tmpfs []string
	for _, m := range mounts {
		if m.Type == "tmpfs" {
			tmpfs = append(tmpfs, filepath.Clean(m.Destination))
		}
	}
	for i, m := range mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" || below(m.Destination, tmpfs) {
			continue
		}
		target, err := mountpoint(r, bundle, m)
		if err != nil {
			return fmt.Errorf("mounts[%d]: destination %q: %w", i, m.Destination, err)
		}
		target.Close()
	}
	return nil
}

func mountpoint(r *root, bundle string, m specs.Mount) (*os.File, error) {
	if isBindMount(m) {
		st, err := os.Stat(BindSource(bundle, m.Source))
		if err != nil {
			return nil, fmt.Errorf("bind source: %w", err)
		}
		if !st.IsDir() {
			return r.fileTarget(m.Destination)
		}
	}
	return r.mkdirTarget(m.Destination)
}

func below(path string, dirs []string) bool {
	path = filepath.Clean(path)
	for _, d := range dirs {
		if strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

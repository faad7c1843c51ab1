package main

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/strata-runtime/strata/tests/rootfs"
	"github.com/strata-runtime/strata/tests/testutil"
)

// cgroupParent holds every benchmark container's cgroup.
const cgroupParent = "strata-bench"

// commandTimeout bounds every runtime command: a hung runtime fails its item.
const commandTimeout = 60 * time.Second

type runtime struct {
	name, path, version string
	root                string // its private --root
}

type bench struct {
	dir      string // temp dir: the rootfs, one config dir per container, state roots
	rootfs   string
	runtimes []*runtime
	hs       []string // cgroup hierarchies, with the hugetlb one mounted for crun
	unmount  func() error
	seq      atomic.Int64
	cleaned  atomic.Bool
}

// setup makes the shared rootfs (a copy of the test busybox rootfs) and a
// state root per runtime, and mounts the v1 hugetlb hierarchy for crun.
func setup(paths []string) (*bench, error) {
	dir, err := os.MkdirTemp("", "strata-bench-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o711)
	b := &bench{dir: dir, rootfs: filepath.Join(dir, "rootfs"), unmount: func() error { return nil }}
	src, err := rootfs.Cached()
	if err != nil {
		return b, err
	}
	if out, err := exec.Command("cp", "-a", src, b.rootfs).CombinedOutput(); err != nil {
		return b, fmt.Errorf("copying the rootfs: %v: %s", err, out)
	}
	for _, p := range paths {
		abs, err := exec.LookPath(p)
		if err == nil {
			abs, err = filepath.Abs(abs)
		}
		if err != nil {
			return b, err
		}
		out, _ := exec.Command(abs, "--version").Output()
		version, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		rt := &runtime{name: binName(abs), path: abs, version: version, root: filepath.Join(dir, "state-"+binName(abs))}
		b.runtimes = append(b.runtimes, rt)
	}
	hugetlb := filepath.Join(dir, "hugetlb")
	if b.unmount, err = cgroupfs.MountHugetlbV1(hugetlb, cgroupParent); err != nil {
		return b, err
	}
	b.hs = cgroupfs.Hierarchies(hugetlb)
	return b, nil
}

// cleanup deletes every container left in the state roots, removes the
// benchmark's cgroups, unmounts hugetlb and removes the temp dir.
func (b *bench) cleanup() {
	if b.cleaned.Swap(true) {
		return
	}
	for _, rt := range b.runtimes {
		entries, _ := os.ReadDir(rt.root)
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") { // not strata's .cache~
				exec.Command(rt.path, "--root", rt.root, "delete", "--force", e.Name()).Run()
			}
		}
	}
	for _, root := range cgroupfs.Roots(b.hs) {
		for _, l := range cgroupfs.RemoveTree(filepath.Join(root, cgroupParent)) {
			fmt.Fprintln(os.Stderr, "bench: cannot remove cgroup", l)
		}
	}
	if err := b.unmount(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: unmounting hugetlb:", err)
	}
	removePlainHugetlb()
	os.RemoveAll(b.dir)
}

// newContainer writes the config of a new container (its own ID and
// cgroupsPath; process args) and returns its ID and bundle directory. The
// rootfs is shared: root.path is absolute.
func (b *bench) newContainer(rt *runtime, args ...string) (id, bundle string, err error) {
	return b.newContainerWith(rt, nil, args...)
}

// newContainerWith is newContainer with a change to the spec (nil: none).
func (b *bench) newContainerWith(rt *runtime, change func(*specs.Spec), args ...string) (id, bundle string, err error) {
	id = fmt.Sprintf("bench-%s-%d-%d", rt.name, os.Getpid(), b.seq.Add(1))
	bundle = filepath.Join(b.dir, "bundles", id)
	spec := testutil.BaseSpec(id)
	// crun 1.8 refuses 1.3.0; all three runtimes get the same config.
	spec.Version = "1.0.2"
	spec.Root = &specs.Root{Path: b.rootfs, Readonly: true}
	spec.Process.Args = args
	spec.Linux.CgroupsPath = "/" + cgroupParent + "/" + id
	if change != nil {
		change(spec)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return "", "", err
	}
	return id, bundle, os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644)
}

// command runs the runtime with its --root and args; stdin and stdout are
// /dev/null, stderr goes to a file (a pipe would be held open by a detached
// container) and is returned in the error.
func (rt *runtime) command(args ...string) (*os.ProcessState, error) { return rt.run(nil, args...) }

// run is command with stdout going to stdout (nil: /dev/null).
func (rt *runtime) run(stdout io.Writer, args ...string) (*os.ProcessState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	errFile, err := os.CreateTemp("", "strata-bench-stderr-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	cmd := exec.CommandContext(ctx, rt.path, append([]string{"--root", rt.root}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, errFile
	err = cmd.Run()
	if err != nil {
		msg, _ := os.ReadFile(errFile.Name())
		return cmd.ProcessState, fmt.Errorf("%s %s: %v: %s", rt.name, strings.Join(args, " "), err, bytes.TrimSpace(msg))
	}
	return cmd.ProcessState, nil
}

// removeBundle removes a container's config directory once it is deleted.
func (b *bench) removeBundle(bundle string) { os.RemoveAll(bundle) }

// waitExit waits for a process that is not our child to exit, through a
// pidfd (polling `state` would add runtime commands to the measurement).
func waitExit(pid int) error {
	fd, err := pidfdOpen(pid)
	if err != nil {
		if err == syscall.ESRCH {
			return nil // gone already
		}
		return err
	}
	defer syscall.Close(fd)
	return pollIn(fd, commandTimeout)
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-runtime/strata/tests/podmanconf"
)

// podmanEnv is a podman with everything private to the bench: root,
// runroot, tmpdir, configuration, events, networks and volumes in the temp
// dir, cgroupfs, and the runtime given by -runtime.
type podmanEnv struct {
	b         *bench
	dir       string
	env       []string
	container string
}

func (p *podmanEnv) args(args ...string) []string {
	return append([]string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "runroot"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
		"--runtime", p.b.runtime,
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
		"--storage-driver", "overlay",
		"--network-config-dir", filepath.Join(p.dir, "networks"),
		"--volumepath", filepath.Join(p.dir, "volumes"),
	}, args...)
}

func (p *podmanEnv) run(args ...string) (string, error) {
	return run(p.env, p.b.podman, p.args(args...)...)
}

func (p *podmanEnv) exec(args ...string) (string, error) {
	return p.run(append([]string{"exec", p.container}, args...)...)
}

// podmanContainer pulls the image from its layout into a private podman
// storage and runs a sleeping container from it, without a network, in a
// cgroup below the bench's.
func (b *bench) podmanContainer(layout string) (*podmanEnv, error) {
	dir := filepath.Join(b.dir, "podman")
	p := &podmanEnv{b: b, dir: dir, container: fmt.Sprintf("bench-image-%d", os.Getpid())}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	env, err := podmanconf.Write(dir)
	if err != nil {
		return nil, err
	}
	p.env = env
	b.onCleanup(func() {
		if _, err := cleanupRun(p.env, b.podman, p.args("rm", "--all", "--force", "--time", "0")...); err != nil {
			fmt.Fprintln(os.Stderr, "bench-image:", err)
		}
		if _, err := cleanupRun(p.env, b.podman, p.args("rmi", "--all", "--force")...); err != nil {
			fmt.Fprintln(os.Stderr, "bench-image:", err)
		}
	})
	out, err := p.run("pull", "--quiet", "oci:"+layout+":1")
	if err != nil {
		return nil, err
	}
	image := strings.TrimSpace(out)
	if _, err := p.run("run", "--detach", "--name", p.container, "--network", "none",
		"--cgroup-parent", "/"+b.cgroupParent+"/podman", image, "sleep", "1000000"); err != nil {
		return nil, err
	}
	return p, nil
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	// podman asks for RLIMIT_NOFILE and RLIMIT_NPROC above what many
	// machines allow without CAP_SYS_RESOURCE in the container: ask for
	// what they allow. File locks, not /dev/shm/libpod_lock.
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
lock_type = "file"
events_logger = "file"
events_logfile_path = %q
static_dir = %q
[network]
network_config_dir = %q
`, filepath.Join(dir, "events.log"), filepath.Join(dir, "root", "libpod"), filepath.Join(dir, "networks"))
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(dir, "root"), filepath.Join(dir, "runroot"))
	for name, content := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	p.env = []string{"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"), "CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf")}
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

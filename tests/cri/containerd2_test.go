//go:build cri

package cri

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// containerdDir is where the containerd under test and its runc shim are:
// $CRI_CONTAINERD (the Makefile's cri target sets it to the containerd 2
// it builds), else "" for the containerd and shim on $PATH (Debian's 1.6).
func containerdDir() string { return os.Getenv("CRI_CONTAINERD") }

// containerdBinary is the daemon to start.
func containerdBinary() string {
	if d := containerdDir(); d != "" {
		return filepath.Join(d, "containerd")
	}
	return "containerd"
}

var containerdRelease = regexp.MustCompile(`\sv?(\d+)\.\d+\.\d+`)

// containerdMajor is the daemon's major release, from `containerd
// --version` ("containerd github.com/containerd/containerd/v2 v2.4.2 ..."
// or Debian's "containerd github.com/containerd/containerd 1.6.20~ds1 ...").
// It picks the config's format: containerd 2 refuses version 2 plugin
// names for the CRI's split plugins.
func containerdMajor(t *testing.T) int {
	t.Helper()
	out, err := exec.Command(containerdBinary(), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", containerdBinary(), err, out)
	}
	m := containerdRelease.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("%s --version: no release in %q", containerdBinary(), out)
	}
	t.Logf("daemon: %s", strings.TrimSpace(string(out)))
	var major int
	fmt.Sscan(m[1], &major)
	return major
}

// configV3 is containerd 2's config.toml for the same setup as config():
// the CRI plugin is split into images, runtime and the gRPC server, and
// registry mirrors are hosts.toml files under a config_path (the mirrors
// table is gone; the transfer service that pulls for CRI reads only that).
func (e *criEnv) configV3(t *testing.T) string {
	t.Helper()
	certs := filepath.Join(e.dir, "certs.d")
	for _, host := range mirroredHosts {
		writeFile(t, filepath.Join(certs, host, "hosts.toml"), fmt.Sprintf(`server = "http://%[1]s"
[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`, registryAddr))
	}
	var b strings.Builder
	b.WriteString(e.daemonConfig(3))
	fmt.Fprintf(&b, `[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %q
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = %q
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins.'io.containerd.cri.v1.runtime']
  # As in config(): no sandbox may lower its OOM score here.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%q]
    conf_dir = %q
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "strata"
`, pauseImage, certs, cniDir(), filepath.Join(e.dir, "cni"))
	for _, name := range []string{"strata", "runc"} {
		h := e.handlers[name]
		fmt.Fprintf(&b, `    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.%[1]s]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.%[1]s.options]
        BinaryName = %[2]q
        Root = %[3]q
        SystemdCgroup = %[4]v
`, h.name, h.binary, h.root, systemdDriver())
	}
	return b.String()
}

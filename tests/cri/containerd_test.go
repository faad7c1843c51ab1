//go:build cri

package cri

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// criNamespace is the containerd namespace of CRI's containers; the runc
// shim appends it to the handler's Root to make the runtime's --root.
const criNamespace = "k8s.io"

// handler is a CRI runtime handler: the runc shim calling binary with
// --root root/k8s.io.
type handler struct {
	name, binary, root string
}

// stateRoot is the --root the shim hands the runtime.
func (h handler) stateRoot() string { return filepath.Join(h.root, criNamespace) }

// criEnv is one private containerd with its CRI plugin, in the test's
// network namespace and cgroup.
type criEnv struct {
	dir, sock string
	ns        netns
	cgroup    string // the test's cgroup; containerd runs in cgroup/containerd
	handlers  map[string]handler
	crictlCfg string
	registry  *registry
	major     int // containerd's major release
}

// startCRI starts the registry and containerd, each in the test's network
// namespace, with the images the pods use pushed. Everything is stopped and
// removed by the test's cleanups, which also fail it for what was left.
func startCRI(t *testing.T, strata string) *criEnv {
	t.Helper()
	requireMountedHierarchies(t)
	dir := workDir(t)
	e := &criEnv{
		dir:    dir,
		sock:   filepath.Join(dir, "containerd.sock"),
		cgroup: fmt.Sprintf("/strata-cri-%d", os.Getpid()),
		handlers: map[string]handler{
			"strata": {"strata", strata, filepath.Join(dir, "strata-root")},
			"runc":   {"runc", runcPath, filepath.Join(dir, "runc-root")},
		},
		crictlCfg: filepath.Join(dir, "crictl.yaml"),
	}
	e.ns = newNetns(t, dir)
	e.registry = startRegistry(t, dir, e.ns)
	pushPodImages(t, dir, e.registry)
	writeFile(t, filepath.Join(dir, "cni", "10-strata-cri.conflist"), cniConfig(dir))
	writeFile(t, e.crictlCfg, fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%[1]s\ntimeout: 60\n", e.sock))
	cfgPath := filepath.Join(dir, "config.toml")
	e.major = containerdMajor(t)
	if containerdDir() != "" && e.major < 2 {
		t.Fatalf("CRI_CONTAINERD=%s holds containerd %d; it names the containerd 2 that make cri-tools builds", containerdDir(), e.major)
	}
	if e.major >= 2 {
		writeFile(t, cfgPath, e.configV3(t))
	} else {
		writeFile(t, cfgPath, e.config())
	}
	cgroupTree(t, e.cgroup)
	procs := makeCgroup(t, e.cgroup+"/containerd")
	watchMachinePaths(t)
	logPath := filepath.Join(dir, "containerd.log")
	dumpOnFailure(t, logPath)
	// The shell joins the test's cgroup before it becomes containerd, so
	// the daemon, its shims and any container given a relative cgroup path
	// live below it, never below the machine's own cgroups.
	// The shim containerd starts is the one on its PATH: the daemon's
	// own release first.
	script := `bin=$1 cfg=$2; shift 2; for f; do echo $$ > "$f" || exit 1; done; exec "$bin" --config "$cfg"`
	d := startDaemon(t, logPath, func() error {
		if r := e.crictl(t, "info"); r.Code != 0 {
			return fmt.Errorf("%s", r.Stderr)
		}
		return nil
	}, e.daemonCommand(script, cfgPath, procs))
	t.Cleanup(func() { e.removeEverything(t); d.stop(t) })
	return e
}

// config is containerd's config.toml: every path the test's, the CRI
// plugin with the two handlers, the test's CNI network and registry.
func (e *criEnv) config() string {
	var b strings.Builder
	b.WriteString(e.daemonConfig(2))
	fmt.Fprintf(&b, `[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # CRI asks for oom_score_adj -998 for every sandbox; nothing here may
  # lower a score (CAP_SYS_RESOURCE is not in the bounding set).
  restrict_oom_score_adj = true
  # Pod network namespaces under the state directory, not /run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "strata"
`, pauseImage, cniDir(), filepath.Join(e.dir, "cni"))
	for _, name := range []string{"strata", "runc"} {
		h := e.handlers[name]
		fmt.Fprintf(&b, `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s.options]
      BinaryName = %[2]q
      Root = %[3]q
      SystemdCgroup = %[4]v
`, h.name, h.binary, h.root, systemdDriver())
	}
	// What the test images are named after; all are served by the test's
	// registry, over plain HTTP on the namespace's loopback.
	for _, host := range mirroredHosts {
		fmt.Fprintf(&b, `  [plugins."io.containerd.grpc.v1.cri".registry.mirrors.%q]
    endpoint = ["http://%s"]
`, host, registryAddr)
	}
	return b.String()
}

// daemonConfig is the part of config.toml that both formats share: the
// config version and the daemon's own paths, all the test's.
func (e *criEnv) daemonConfig(version int) string {
	return fmt.Sprintf(`version = %d
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, version, filepath.Join(e.dir, "root"), filepath.Join(e.dir, "state"), e.sock, e.sock+".ttrpc", filepath.Join(e.dir, "opt"))
}

// mirroredHosts are the registries the test images are named after.
var mirroredHosts = []string{"registry.k8s.io", "k8s.gcr.io", "gcr.io"}

// cniConfig is one bridge network inside the test's network namespace,
// with its addresses kept in the test's directory.
func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "strata-cri",
  "plugins": [{
    "type": "bridge",
    "bridge": "cri0",
    "isGateway": true,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "10.222.0.0/24"}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }, {"type": "loopback"}]
}
`, filepath.Join(dir, "cni-ipam"))
}

// removeEverything removes what a failed test left (every pod, forced),
// before the daemon stops: a pod left running keeps its shim alive.
func (e *criEnv) removeEverything(t *testing.T) {
	if r := e.crictl(t, "pods", "-q"); strings.TrimSpace(r.Stdout) != "" {
		t.Logf("removing pods left behind: %s", strings.Fields(r.Stdout))
		e.crictl(t, "rmp", "-f", "-a")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// daemonCommand runs script in the test's network namespace with the
// containerd binary, its config and the cgroup files to join; with
// $CRI_CONTAINERD its directory leads PATH, so the shim matches the daemon.
func (e *criEnv) daemonCommand(script, cfgPath string, procs []string) *exec.Cmd {
	cmd := e.ns.command("sh", append([]string{"-c", script, "sh", containerdBinary(), cfgPath}, procs...)...)
	if d := containerdDir(); d != "" {
		cmd.Env = append(os.Environ(), "PATH="+d+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return cmd
}

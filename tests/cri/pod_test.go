//go:build cri

package cri

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestPod runs one pod through each handler, with crictl as the kubelet:
// the sandbox, two containers sharing its namespaces, ExecSync and streaming
// exec, logs, stats, a resource update, an OOM kill, and a teardown that
// leaves nothing. Every step checks that the handler's runtime binary made
// what containerd reports (it lists the containers in its --root).
func TestPod(t *testing.T) {
	e := startCRI(t, tu.StrataPath())
	must(t, e.crictl(t, "pull", busyboxImage))
	for _, name := range []string{"strata", "runc"} {
		t.Run(name, func(t *testing.T) { podChecks(t, e, e.handlers[name]) })
	}
	// CRI's user namespaces came with containerd 2.0 (1.6 ignores
	// userns_options and runs the pod in the host's). Not with runc 1.1.5:
	// containerd 2 refuses to start a container in such a pod on a runtime
	// whose `features` lacks mountExtensions.idmap (runc has it from 1.2).
	if e.major >= 2 {
		t.Run("strata-userns", func(t *testing.T) { usernsPodChecks(t, e, e.handlers["strata"]) })
	} else {
		t.Logf("strata-userns: not run, containerd %d's CRI has no user namespaces (make cri runs it with containerd 2)", e.major)
	}
}

// pod is a running sandbox and what the checks learn about it.
type pod struct {
	e      *criEnv
	h      handler
	name   string         // the sandbox's metadata name and hostname
	userns map[string]any // its CRI userns_options, nil for none
	id     string
	cgroup string // its cgroup parent's path below the cgroup root
	logDir string
	netns  string // the network namespace file containerd made for it
}

func podChecks(t *testing.T, e *criEnv, h handler) {
	p := runPod(t, e, h)
	a := p.container(t, "a", []string{"sh", "-c", "echo hello from a; exec sleep 3600"}, 0)
	b := p.container(t, "b", []string{"sh", "-c", "echo hello from b; exec sleep 3601"}, 0)
	t.Run("runtime-made-them", func(t *testing.T) { p.runtimeHas(t, p.id, a, b) })
	t.Run("shared-namespaces", func(t *testing.T) { p.sharedNamespaces(t, a, b) })
	t.Run("exec-sync", func(t *testing.T) { p.execSync(t, a) })
	t.Run("exec-sync-timeout", func(t *testing.T) { p.execSyncTimeout(t, a) })
	t.Run("exec-streaming", func(t *testing.T) { p.execStreaming(t, b) })
	t.Run("logs", func(t *testing.T) { p.logs(t, a, "a", "hello from a") })
	t.Run("stats", func(t *testing.T) { p.stats(t, a) })
	t.Run("update-resources", func(t *testing.T) { p.updateResources(t, b) })
	if systemdDriver() {
		t.Run("systemd-scope", func(t *testing.T) { p.systemdScope(t, a, 0) })
	}
	t.Run("oom-killed", func(t *testing.T) { p.oomKilled(t) })
	t.Run("stop-remove-leaves-nothing", func(t *testing.T) { p.teardown(t, a, b) })
}

// runPod starts a sandbox with the handler in a cgroup parent the test made
// (as the kubelet makes a pod's; see podCgroup) and checks its runtime
// holds it.
func runPod(t *testing.T, e *criEnv, h handler) *pod {
	t.Helper()
	return runPodWith(t, e, h, "pod-"+h.name, nil)
}

// runPodWith is runPod for a sandbox named name, with CRI's userns_options
// when userns is not nil.
func runPodWith(t *testing.T, e *criEnv, h handler, name string, userns map[string]any) *pod {
	t.Helper()
	p := &pod{e: e, h: h, name: name, userns: userns, logDir: filepath.Join(e.dir, "logs-"+name)}
	parent, cgroup := podCgroup(t, e, name)
	p.cgroup = cgroup
	// POD: the containers share the sandbox's pid namespace.
	nsOptions := map[string]any{"pid": 0}
	if userns != nil {
		nsOptions["userns_options"] = userns
	}
	cfg := map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "strata-cri", "uid": tu.UniqueID(t), "attempt": 1},
		"hostname":      name,
		"log_directory": p.logDir,
		"linux": map[string]any{
			"cgroup_parent":    parent,
			"security_context": map[string]any{"namespace_options": nsOptions},
		},
	}
	path := e.writeJSON(t, name+".json", cfg)
	p.id = must(t, e.crictl(t, "runp", "--runtime", h.name, path))
	t.Logf("pod %s with handler %s", p.id, h.name)
	var info struct {
		Status struct {
			State   string `json:"state"`
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
		Info struct {
			RuntimeSpec struct {
				Linux struct {
					Namespaces []struct{ Type, Path string } `json:"namespaces"`
				} `json:"linux"`
			} `json:"runtimeSpec"`
		} `json:"info"`
	}
	e.inspect(t, "inspectp", p.id, &info)
	if info.Status.State != "SANDBOX_READY" || !strings.HasPrefix(info.Status.Network.IP, "10.222.0.") {
		t.Fatalf("pod %s: state %q, IP %q; want SANDBOX_READY and an address of the test's bridge", p.id, info.Status.State, info.Status.Network.IP)
	}
	for _, ns := range info.Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			p.netns = ns.Path
		}
	}
	if !strings.HasPrefix(p.netns, e.dir+"/") {
		t.Fatalf("pod %s: network namespace %q, want one under the test's state directory", p.id, p.netns)
	}
	return p
}

// container creates and starts a container in the pod, its log in
// logDir/name.log, with a memory limit unless 0, and returns its ID.
func (p *pod) container(t *testing.T, name string, cmd []string, memory int64) string {
	t.Helper()
	cfg := map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": busyboxImage},
		"command":  cmd,
		"log_path": name + ".log",
	}
	linux := map[string]any{}
	if memory != 0 {
		linux["resources"] = map[string]any{"memory_limit_in_bytes": memory}
	}
	if p.userns != nil {
		// The kubelet repeats the pod's map for each container.
		linux["security_context"] = map[string]any{"namespace_options": map[string]any{"pid": 0, "userns_options": p.userns}}
	}
	if len(linux) > 0 {
		cfg["linux"] = linux
	}
	podCfg := filepath.Join(p.e.dir, p.name+".json")
	id := must(t, p.e.crictl(t, "create", p.id, p.e.writeJSON(t, "ctr-"+p.name+"-"+name+".json", cfg), podCfg))
	must(t, p.e.crictl(t, "start", id))
	return id
}

// runtimeHas checks the handler's runtime lists every one of ids in its root.
func (p *pod) runtimeHas(t *testing.T, ids ...string) {
	t.Helper()
	listed := runtimeList(t, p.h)
	for _, id := range ids {
		if !slices.Contains(listed, id) {
			t.Errorf("%s --root %s list does not show %s (the shim did not run it): %v", p.h.binary, p.h.stateRoot(), id, listed)
		}
	}
}

// execOut is ExecSync's stdout, failing the test unless the command succeeded.
func (p *pod) execOut(t *testing.T, id string, cmd ...string) string {
	t.Helper()
	return must(t, p.e.crictl(t, append([]string{"exec", "-s", id}, cmd...)...))
}

// sharedNamespaces: b sees a's process and the pause as pid 1, and both
// are in the sandbox's network, ipc and uts namespaces, not the host's.
func (p *pod) sharedNamespaces(t *testing.T, a, b string) {
	ps := p.execOut(t, b, "ps", "-o", "pid,args")
	if !strings.Contains(ps, "sleep 3600") || !regexpLine(ps, `^\s*1\s+/pause$`) {
		t.Errorf("container b does not see a's `sleep 3600` and /pause as pid 1 (no shared pid namespace):\n%s", ps)
	}
	for _, ns := range []string{"net", "ipc", "uts"} {
		inA := p.execOut(t, a, "readlink", "/proc/self/ns/"+ns)
		inB := p.execOut(t, b, "readlink", "/proc/self/ns/"+ns)
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		if inA != inB || inA == host {
			t.Errorf("%s namespace: a %s, b %s, the test's %s; want a and b alike, not the test's", ns, inA, inB, host)
		}
	}
	if got := p.execOut(t, a, "stat", "-L", "-c", "%i", "/proc/self/ns/net"); got != inode(t, p.netns) {
		t.Errorf("container a's network namespace is inode %s, the sandbox's (%s) is %s", got, p.netns, inode(t, p.netns))
	}
	if got := p.execOut(t, b, "hostname"); got != p.name {
		t.Errorf("hostname in b: %q, want the pod's %q", got, p.name)
	}
}

// regexpLine tells whether a line of text matches the pattern.
func regexpLine(text, pattern string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(text)
}

func inode(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("stat", "-L", "-c", "%i", path).Output()
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

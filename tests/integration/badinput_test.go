package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// badCase is one way to misuse the runtime. Every case must fail with a
// non-zero exit, leave nothing behind, and (strata only) say in its message
// what was wrong.
type badCase struct {
	name   string
	mutate func(*specs.Spec)
	// setup runs before the leak guard's snapshot: what it makes, teardown
	// must undo.
	setup    func(t *testing.T, c *tu.Container)
	cmd      func(c *tu.Container) tu.Result // default: create
	teardown func(t *testing.T, c *tu.Container)
	want     string // substring of the message; %s is the container ID
	// strataOnly marks behaviour the OCI spec leaves open and runc chooses
	// differently (it accepts the input): the case runs against strata only.
	strataOnly string
}

func deleteForce(t *testing.T, c *tu.Container) { tu.Must(t, c.Runtime("delete", "--force", c.ID)) }

func createIt(t *testing.T, c *tu.Container) { tu.Must(t, c.Create()) }

func runDetached(t *testing.T, c *tu.Container) { tu.Must(t, c.Run("--detach")) }

func badCases(t *testing.T) []badCase {
	hostIPForward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	busybox := tu.Busybox(t)
	return []badCase{
		{name: "missing config.json", want: "config.json not found",
			setup: func(t *testing.T, c *tu.Container) { os.Remove(filepath.Join(c.Bundle, "config.json")) }},
		{name: "invalid JSON", want: "config.json",
			setup: func(t *testing.T, c *tu.Container) {
				os.WriteFile(filepath.Join(c.Bundle, "config.json"), []byte(`{"ociVersion": "1.0.0", "process": `), 0o644)
			}},
		{name: "unsupported ociVersion major", want: `ociVersion "2.0.0": unsupported major version`,
			strataOnly: "runc 1.1.5 does not check ociVersion",
			mutate:     func(s *specs.Spec) { s.Version = "2.0.0" }},
		{name: "unknown namespace type", want: `linux.namespaces[5]: unknown namespace type "foo"`,
			mutate: func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
			}},
		{name: "rootfs outside the bundle that does not exist", want: "no-such-rootfs",
			mutate: func(s *specs.Spec) { s.Root.Path = "../../no-such-rootfs" }},
		{name: "nonexistent cwd", want: `process.cwd "/nonexistent"`,
			strataOnly: "runc creates a missing cwd",
			mutate:     func(s *specs.Spec) { s.Process.Cwd = "/nonexistent" }},
		{name: "nonexistent binary", want: "/no/such/binary",
			mutate: func(s *specs.Spec) { s.Process.Args = []string{"/no/such/binary"} }},
		{name: "empty process.args", want: "process.args",
			mutate: func(s *specs.Spec) { s.Process.Args = nil }},
		{name: "relative mount destination", want: "mounts[6]",
			strataOnly: "runc 1.1.5 accepts a relative destination (with a warning)",
			mutate: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "relative/dir", Type: "tmpfs", Source: "tmpfs"})
			}},
		{name: "missing bind source", want: "nonexistent-bind-source",
			mutate: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/nonexistent-bind-source", Options: []string{"rbind"}})
			}},
		{name: "duplicate ID", want: `create container "%s": already exists`, setup: createIt, teardown: deleteForce},
		{name: "invalid ID", want: `create container "../x": invalid container ID`,
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("create", "--bundle", c.Bundle, "../x") },
			teardown: func(t *testing.T, c *tu.Container) {
				for _, p := range []string{filepath.Join(c.Dir, "x"), filepath.Join(c.Root, "../x")} {
					if _, err := os.Stat(p); err == nil {
						t.Errorf("invalid ID ../x made %s", p)
					}
				}
			}},
		{name: "bad signal", want: `invalid signal "SIGFOO"`, setup: createIt, teardown: deleteForce,
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("kill", c.ID, "SIGFOO") }},
		{name: "start of a running container", want: `start container "%s": status is running`,
			mutate: sleeper, setup: runDetached, teardown: deleteForce,
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("start", c.ID) }},
		{name: "delete of a running container without force", want: `delete container "%s": status is running`,
			mutate: sleeper, setup: runDetached, teardown: deleteForce,
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("delete", c.ID) }},
		{name: "kill of a stopped container", want: `"%s"`, teardown: deleteForce,
			setup: func(t *testing.T, c *tu.Container) {
				runDetached(t, c) // process.args is `true`: it stops at once
				c.WaitStatus("stopped", 10*time.Second)
			},
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("kill", c.ID, "KILL") }},
		{name: "state of an unknown ID", want: `state of container "%s": does not exist`,
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("state", c.ID) }},
		{name: "start of an unknown ID", want: `start container "%s": does not exist`,
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("start", c.ID) }},
		{name: "delete of an unknown ID", want: `delete container "%s": does not exist`,
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("delete", c.ID) }},
		{name: "uid mappings without a user namespace", want: "uidMappings",
			strataOnly: "runc 1.1.5 ignores the mappings",
			mutate: func(s *specs.Spec) {
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			}},
		{name: "hostname without a UTS namespace", want: "hostname", mutate: withoutNamespace(specs.UTSNamespace)},
		// The value is the host's own: a runtime that wrongly applied it would
		// fail the test without changing the host.
		{name: "net sysctl without a network namespace", want: "net.ipv4.ip_forward",
			mutate: with(withoutNamespace(specs.NetworkNamespace), func(s *specs.Spec) {
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": strings.TrimSpace(string(hostIPForward))}
			})},
		{name: "rlimit soft above hard", want: "process.rlimits[0]",
			mutate: func(s *specs.Spec) {
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1000, Hard: 500}}
			}},
		{name: "hook with a relative path", want: "hooks.createRuntime[0]",
			mutate: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "relative/hook"}}}
			}},
		{name: "failing createRuntime hook", want: "createRuntime",
			mutate: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: busybox, Args: []string{"busybox", "false"}}}}
			}},
		{name: "console socket given", want: "console-socket",
			cmd: func(c *tu.Container) tu.Result {
				return c.Create("--console-socket", filepath.Join(c.Dir, "console.sock"))
			}},
		{name: "terminal without a console socket", want: "terminal",
			mutate: func(s *specs.Spec) { s.Process.Terminal = true }},
		{name: "spec over an existing config.json", want: "config.json",
			cmd: func(c *tu.Container) tu.Result { return c.Runtime("spec", "--bundle", c.Bundle) },
			teardown: func(t *testing.T, c *tu.Container) {
				data, _ := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
				if !strings.Contains(string(data), c.ID) {
					t.Error("spec overwrote config.json")
				}
			}},
	}
}

func TestBadInput(t *testing.T) {
	for _, bc := range badCases(t) {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			if bc.strataOnly != "" {
				// Another runtime accepts the input (see strataOnly).
				tu.StrataOnly(t, bc.strataOnly)
			}
			c := tu.NewContainer(t, bc.mutate)
			if bc.setup != nil {
				bc.setup(t, c)
			}
			guard := c.Guard()
			cmd := bc.cmd
			if cmd == nil {
				cmd = func(c *tu.Container) tu.Result { return c.Create() }
			}
			r := cmd(c)
			want := bc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, c.ID)
			}
			wantErrorText(t, r, want)
			wantIDOnce(t, r, c.ID)
			if bc.teardown != nil {
				bc.teardown(t, c)
			}
			guard.Check(t)
		})
	}
}

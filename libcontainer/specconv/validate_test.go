package specconv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// newBundle returns a bundle directory with an empty rootfs, and Example().
func newBundle(t *testing.T) (string, *specs.Spec) {
	t.Helper()
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bundle, Example()
}

func TestExampleValidates(t *testing.T) {
	t.Parallel()
	bundle, s := newBundle(t)
	if err := Validate(s, bundle); err != nil {
		t.Fatalf("Example() does not validate:\n%v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func withNS(s *specs.Spec, ns ...specs.LinuxNamespace) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, ns...)
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(s *specs.Spec, bundle string)
		want   string // must appear in the error
	}{
		{"no version", func(s *specs.Spec, _ string) { s.Version = "" }, "ociVersion: required"},
		{"major 2", func(s *specs.Spec, _ string) { s.Version = "2.0.0" }, `ociVersion "2.0.0": unsupported major version (expected 1.x)`},
		{"not semver", func(s *specs.Spec, _ string) { s.Version = "1.0" }, `ociVersion "1.0": not a semantic version`},
		{"no root", func(s *specs.Spec, _ string) { s.Root = nil }, "root: required"},
		{"empty root path", func(s *specs.Spec, _ string) { s.Root.Path = "" }, "root.path: required"},
		{"missing rootfs", func(s *specs.Spec, _ string) { s.Root.Path = "nope" }, `root.path "nope": `},
		{"rootfs is a file", func(s *specs.Spec, b string) {
			os.WriteFile(filepath.Join(b, "file"), nil, 0o644)
			s.Root.Path = "file"
		}, "/file is not a directory"},
		{"rootfs resolved against the bundle", func(s *specs.Spec, b string) { s.Root.Path = "../elsewhere" }, "/elsewhere does not exist"},
		{"no process", func(s *specs.Spec, _ string) { s.Process = nil }, "process: required"},
		{"no args", func(s *specs.Spec, _ string) { s.Process.Args = nil }, "process.args: required"},
		{"relative cwd", func(s *specs.Spec, _ string) { s.Process.Cwd = "home" }, `process.cwd: "home" is not absolute`},
		{"env without =", func(s *specs.Spec, _ string) { s.Process.Env = append(s.Process.Env, "FOO") }, `process.env[2]: "FOO" is not NAME=VALUE`},
		{"env empty name", func(s *specs.Spec, _ string) { s.Process.Env = []string{"=x"} }, `process.env[0]: "=x" is not NAME=VALUE`},
		{"umask", func(s *specs.Spec, _ string) { s.Process.User.Umask = ptr(uint32(0o1022)) }, "process.user.umask: 01022 is not a permission mask"},
		{"oom score", func(s *specs.Spec, _ string) { s.Process.OOMScoreAdj = ptr(1001) }, "process.oomScoreAdj: 1001 out of range"},
		{"unknown rlimit", func(s *specs.Spec, _ string) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_FOO"})
		}, `process.rlimits[1]: unknown rlimit type "RLIMIT_FOO"`},
		{"duplicate rlimit", func(s *specs.Spec, _ string) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1})
		}, "process.rlimits[1]: duplicate type RLIMIT_NOFILE (also process.rlimits[0])"},
		{"soft above hard", func(s *specs.Spec, _ string) { s.Process.Rlimits[0].Soft = 2048 }, "process.rlimits[0]: soft limit 2048 exceeds hard limit 1024"},
		{"relative hook", func(s *specs.Spec, _ string) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true"}, {Path: "foo"}}}
		}, `hooks.prestart[1]: path "foo" is not absolute`},
		{"hook timeout", func(s *specs.Spec, _ string) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Timeout: ptr(0)}}}
		}, "hooks.poststop[0].timeout: 0 (expected a positive number of seconds)"},
		{"hook env", func(s *specs.Spec, _ string) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Env: []string{"X"}}}}
		}, `hooks.createRuntime[0].env[0]: "X" is not NAME=VALUE`},
		{"relative mount", func(s *specs.Spec, _ string) { s.Mounts[0].Destination = "proc" }, `mounts[0].destination: "proc" is not absolute`},
		{"bind without source", func(s *specs.Spec, _ string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Options: []string{"rbind", "ro"}})
		}, "mounts[7].source: required for a bind mount"},
		{"bind type without source", func(s *specs.Spec, _ string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind"})
		}, "mounts[7].source: required for a bind mount"},
		{"mount without type", func(s *specs.Spec, _ string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "/srv"})
		}, "mounts[7].type: required"},
		{"empty mount option", func(s *specs.Spec, _ string) { s.Mounts[1].Options[1] = "" }, "mounts[1].options[1]: empty"},
		{"unknown namespace", func(s *specs.Spec, _ string) { withNS(s, specs.LinuxNamespace{Type: "foo"}) }, `linux.namespaces[6]: unknown namespace type "foo"`},
		{"duplicate namespace", func(s *specs.Spec, _ string) { withNS(s, specs.LinuxNamespace{Type: "pid"}) }, `linux.namespaces[6]: duplicate type "pid" (also linux.namespaces[0])`},
		{"missing namespace path", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[0].Path = "/proc/999999999/ns/pid"
		}, `linux.namespaces[0]: path "/proc/999999999/ns/pid": does not exist`},
		{"namespace path of another type", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[1].Path = "/proc/self/ns/uts"
		}, `linux.namespaces[1]: path "/proc/self/ns/uts": is a uts namespace, not network`},
		{"namespace path not a namespace", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[1].Path = "/etc/hostname"
		}, "not a namespace file"},
		{"user ns without mappings", func(s *specs.Spec, _ string) {
			withNS(s, specs.LinuxNamespace{Type: "user"})
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, "linux.uidMappings: required with a new user namespace"},
		{"mappings without user ns", func(s *specs.Spec, _ string) {
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, "linux.gidMappings: set, but linux.namespaces has no user namespace"},
		{"zero-size mapping", func(s *specs.Spec, _ string) {
			withNS(s, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 0}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, "linux.uidMappings[0].size: 0"},
		{"hostname without uts", func(s *specs.Spec, _ string) { s.Linux.Namespaces[3].Type = "time" }, `hostname: "strata" needs a uts namespace`},
		{"domainname without uts", func(s *specs.Spec, _ string) {
			s.Hostname, s.Domainname = "", "example.org"
			s.Linux.Namespaces = s.Linux.Namespaces[:3]
		}, `domainname: "example.org" needs a uts namespace`},
		{"net sysctl in host netns", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[1].Path = "/proc/self/ns/net"
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl "net.ipv4.ip_forward": needs the container's own network namespace: path "/proc/self/ns/net" is the host's`},
		{"net sysctl without netns", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces = s.Linux.Namespaces[2:]
			s.Linux.Sysctl = map[string]string{"net/core/somaxconn": "256"}
		}, `linux.sysctl "net/core/somaxconn": needs the container's own network namespace: none in linux.namespaces`},
		{"ipc sysctl without ipc ns", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[2].Type = "time"
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, `linux.sysctl "kernel.shmmax": needs the container's own ipc namespace: none`},
		{"mqueue sysctl without ipc ns", func(s *specs.Spec, _ string) {
			s.Linux.Namespaces[2].Type = "time"
			s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "1"}
		}, `linux.sysctl "fs.mqueue.msg_max": needs the container's own ipc namespace: none`},
		{"host-wide sysctl", func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "0"} }, `linux.sysctl "vm.swappiness": not in a namespace the container can own`},
		{"kernel.hostname sysctl", func(s *specs.Spec, _ string) { s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"} }, `linux.sysctl "kernel.hostname": conflicts with the "hostname" field`},
		{"kernel.domainname and domainname", func(s *specs.Spec, _ string) {
			s.Domainname = "a"
			s.Linux.Sysctl = map[string]string{"kernel.domainname": "b"}
		}, `linux.sysctl "kernel.domainname": conflicts with the "domainname" field`},
		{"time offsets without time ns", func(s *specs.Spec, _ string) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
		}, "linux.timeOffsets: needs a new time namespace"},
		{"unknown clock", func(s *specs.Spec, _ string) {
			withNS(s, specs.LinuxNamespace{Type: "time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 10}}
		}, `linux.timeOffsets "realtime": unknown clock`},
		{"device type", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "x", Major: 10, Minor: 229}}
		}, `linux.devices[0].type: "x" (expected c, b, u or p)`},
		{"device outside /dev", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/../etc/passwd", Type: "c", Major: 1, Minor: 3}}
		}, `linux.devices[0].path: "/dev/../etc/passwd" is not an absolute path under /dev`},
		{"device relative", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/null", Type: "c", Major: 1, Minor: 3}}
		}, `linux.devices[0].path: "dev/null" is not an absolute path under /dev`},
		{"device number", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: -1, Minor: 0}}
		}, "linux.devices[0]: device number -1:0 is negative"},
		{"duplicate device", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}, {Path: "/dev//null", Type: "c", Major: 1, Minor: 3}}
		}, `linux.devices[1].path: "/dev//null" duplicates linux.devices[0]`},
		{"device mode", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: ptr(os.FileMode(0o20666))}}
		}, "linux.devices[0].fileMode: 020666 has bits beyond"},
		{"relative masked path", func(s *specs.Spec, _ string) { s.Linux.MaskedPaths[2] = "proc/kcore" }, `linux.maskedPaths[2]: "proc/kcore" is not absolute`},
		{"relative readonly path", func(s *specs.Spec, _ string) { s.Linux.ReadonlyPaths[0] = "" }, `linux.readonlyPaths[0]: "" is not absolute`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bundle, s := newBundle(t)
			tc.change(s, bundle)
			err := Validate(s, bundle)
			if err == nil {
				t.Fatalf("validated; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
			// One problem, one message: the others in Example() are fine.
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("got %d problems, want 1:\n%v", n, err)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(s *specs.Spec, bundle string)
	}{
		{"older 1.x version", func(s *specs.Spec, _ string) { s.Version = "1.0.2-dev" }},
		{"absolute root path", func(s *specs.Spec, b string) { s.Root.Path = filepath.Join(b, "rootfs") }},
		{"namespaced sysctls", func(s *specs.Spec, _ string) {
			s.Linux.Sysctl = map[string]string{
				"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.queues_max": "1",
				"kernel.domainname": "x", "net/core/somaxconn": "256",
			}
		}},
		{"user namespace with mappings", func(s *specs.Spec, _ string) {
			withNS(s, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
		}},
		{"hostname in a joined uts namespace", func(s *specs.Spec, _ string) { s.Linux.Namespaces[3].Path = "/proc/self/ns/uts" }},
		{"joined user namespace needs no mappings", func(s *specs.Spec, _ string) {
			withNS(s, specs.LinuxNamespace{Type: "user", Path: "/proc/self/ns/user"})
		}},
		{"time namespace with offsets", func(s *specs.Spec, _ string) {
			withNS(s, specs.LinuxNamespace{Type: "time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: -5}, "monotonic": {Secs: 86400}}
		}},
		{"no hostname without uts", func(s *specs.Spec, _ string) {
			s.Hostname = ""
			s.Linux.Namespaces = s.Linux.Namespaces[:3]
		}},
		{"devices and hooks", func(s *specs.Spec, _ string) {
			s.Linux.Devices = []specs.LinuxDevice{
				{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o666))},
				{Path: "/dev/fifo", Type: "p"},
			}
			s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true", Args: []string{"true"}, Timeout: ptr(5), Env: []string{"A=", "B=c=d"}}}}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "/srv", Options: []string{"bind"}})
		}},
		{"no linux section", func(s *specs.Spec, _ string) {
			s.Hostname = ""
			s.Linux = nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bundle, s := newBundle(t)
			tc.change(s, bundle)
			if err := Validate(s, bundle); err != nil {
				t.Errorf("rejected:\n%v", err)
			}
		})
	}
}

// Several problems come back together, in config order.
func TestValidateReportsAll(t *testing.T) {
	t.Parallel()
	bundle, s := newBundle(t)
	s.Version = "0.9.0"
	s.Process.Cwd = "."
	s.Linux.MaskedPaths = []string{"x"}
	err := Validate(s, bundle)
	if err == nil {
		t.Fatal("validated")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"ociVersion", "process.cwd", "linux.maskedPaths[0]"}
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d = %q, want it to start with %s", i, lines[i], w)
		}
	}
}

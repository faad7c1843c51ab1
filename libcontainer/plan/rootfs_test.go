package plan

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/rootfs"
	"github.com/strata-runtime/strata/libcontainer/specconv"
)

func rootfsInput(s *specs.Spec) RootfsInput {
	return RootfsInput{Spec: s, ID: "c1", Rootfs: "/b/rootfs", Bundle: "/b", NewCgroupNS: true, PureCgroup2: true, Kcore: true}
}

// The rootfs steps of a table of specs, held in testdata/rootfs-<name>.plan
// (go test -update rewrites them; review the diff).
func TestRootfsPlans(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   func() RootfsInput
	}{
		// `strata spec` on a pure cgroup v2 host.
		{"default", func() RootfsInput { return rootfsInput(specconv.Example()) }},
		// The same on a hybrid host: the "cgroup" mount is a tmpfs of
		// hierarchies, each mounted fresh in the cgroup namespace.
		{"cgroup-v1", func() RootfsInput {
			in := rootfsInput(specconv.Example())
			in.PureCgroup2 = false
			in.Hierarchies = []rootfs.Hierarchy{
				{Name: "cpu,cpuacct", FSType: "cgroup", Data: "cpu,cpuacct"},
				{Name: "memory", FSType: "cgroup", Data: "memory"},
				{Name: "unified", FSType: "cgroup2", Data: ""},
			}
			return in
		}},
		// A user namespace: device nodes bound from the host; sysfs,
		// mqueue and cgroup2 bind the host's where a fresh mount is refused.
		{"userns", func() RootfsInput {
			s := specconv.Example()
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
			in := rootfsInput(s)
			in.InUserNS, in.Cgroup2Dir = true, "/sys/fs/cgroup/user.slice/c1"
			return in
		}},
		// Root on the host with a user namespace: the parent makes every
		// bind mount, idmapped ones included, and the init attaches them.
		{"userns-parent-trees", func() RootfsInput {
			s := specconv.Example()
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "idmap", "rprivate"}},
				specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: "/run/resolv.conf", Options: []string{"bind", "ro"}},
			)
			in := rootfsInput(s)
			in.InUserNS, in.Cgroup2Dir, in.ParentTrees = true, "/sys/fs/cgroup/c1", []int{7, 8}
			return in
		}},
		// createContainer hooks run in the init, after the runtime's
		// hooks and before pivot_root, with the runtime's umask.
		{"create-hooks", func() RootfsInput {
			s := specconv.Example()
			s.Hooks = &specs.Hooks{
				CreateRuntime:   []specs.Hook{{Path: "/bin/runtime-hook"}},
				CreateContainer: []specs.Hook{{Path: "/usr/bin/cdi-hook", Args: []string{"cdi-hook", "create"}, Env: []string{"A=1"}, Timeout: intp(10)}},
			}
			in := rootfsInput(s)
			in.CreateState, in.Umask = []byte(`{"status":"creating","pid":42}`), 0o022
			return in
		}},
		// rshared (a CRI pod with a Bidirectional mount): the mount
		// holding the rootfs is made private, for pivot_root.
		{"rshared", func() RootfsInput {
			s := specconv.Example()
			s.Linux.RootfsPropagation = "rshared"
			in := rootfsInput(s)
			in.RootfsParent = "/b"
			return in
		}},
		{"binds-devices-hooks", func() RootfsInput {
			s := specconv.Example()
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind", "ro", "rslave", "rnosuid"}},
				specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/etc/hosts", Options: []string{"bind", "nodev"}},
				specs.Mount{Destination: "/data", Options: []string{"remount", "bind", "ro"}},
				specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"rnoexec", "private", "tmpcopyup"}},
			)
			s.Mounts[1].Options = append(s.Mounts[1].Options, "ro") // /dev: made read-only last
			s.Linux.Devices = []specs.LinuxDevice{
				{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: fileMode(0o600), UID: u32(0), GID: u32(0)},
				{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
			}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"}
			s.Linux.RootfsPropagation = "private"
			s.Root.Readonly = true
			s.Domainname = "example.org"
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/net"}}}
			in := rootfsInput(s)
			in.NoNewKeyring, in.NewCgroupNS, in.Kcore = true, false, false
			return in
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, why := Rootfs(tc.in())
			if why != "" {
				t.Fatalf("Rootfs() needs the Go init: %s", why)
			}
			checkGolden(t, "rootfs-"+tc.name, p.String())
		})
	}
}

func fileMode(m os.FileMode) *os.FileMode { return &m }

// The orders the kernel and the spec impose, checked on a plan.
func TestRootfsOrder(t *testing.T) {
	s := specconv.Example()
	s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/h"}}}
	p, why := Rootfs(rootfsInput(s))
	if why != "" {
		t.Fatal(why)
	}
	first := func(pred func(Step) bool, name string) int {
		for i, st := range p.Steps {
			if pred(st) {
				return i
			}
		}
		t.Fatalf("no %s step in\n%s", name, p)
		return -1
	}
	op := func(o Op) (func(Step) bool, string) { return func(s Step) bool { return s.Op == o }, o.String() }
	cgroupMount := func(s Step) bool { return s.Op == OpMount && strings.Contains(s.What, "/sys/fs/cgroup") }
	at := func(f func(Step) bool, name string) int { return first(f, name) }
	for _, pair := range [][2]int{
		{at(op(OpProcfs)), at(op(OpMount))},                   // opened before the container's /proc exists
		{at(op(OpAwaitPlacement)), at(cgroupMount, "cgroup")}, // a cgroup mount shows the cgroups it is in
		{at(op(OpUnshare)), at(cgroupMount, "cgroup")},        // rooted at the container's cgroup
		{at(op(OpMknod)), at(op(OpRuntimeHooks))},             // hooks see the finished /dev
		{at(op(OpRuntimeHooks)), at(op(OpPivot))},             // and run before pivot_root
		{at(op(OpPivot)), at(op(OpMask))},                     // masks apply to the container's view
		{at(op(OpMask)), at(op(OpStdioNull))},
	} {
		if pair[0] > pair[1] {
			t.Errorf("step %d comes after step %d:\n%s", pair[0], pair[1], p)
		}
	}
}

// What the steps cannot express goes to the Go init, which says why.
func TestRootfsNeedsGoInit(t *testing.T) {
	for _, tc := range []struct {
		edit func(*RootfsInput)
		want string
	}{
		{func(in *RootfsInput) { in.InUserNS = true }, "a cgroup2 mount in a user namespace, the container's cgroup2 directory unknown"},
		{func(in *RootfsInput) { in.NoPivot = true }, "--no-pivot"},
		{func(in *RootfsInput) {
			in.Spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}}
		}, "no mount namespace"},
		{func(in *RootfsInput) {
			in.Spec.Linux.Namespaces = append(in.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"})
			in.Spec.Linux.Namespaces = in.Spec.Linux.Namespaces[len(in.Spec.Linux.Namespaces)-1:]
		}, "a joined mount namespace"},
		{func(in *RootfsInput) {
			in.Spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/h", Timeout: intp(-1)}}}
		}, "a createContainer hook to refuse"},
		{func(in *RootfsInput) {
			in.Spec.Annotations = map[string]string{specconv.OverlayAnnotation: "{}"}
		}, "overlay"},
		{func(in *RootfsInput) { in.Spec.Linux.RootfsPropagation = "sideways" }, "a rootfsPropagation to refuse"},
		{func(in *RootfsInput) {
			in.Spec.Mounts = append(in.Spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/x", Options: []string{"bind", "idmap"}})
		}, "an idmapped mount"},
		{func(in *RootfsInput) {
			in.Spec.Mounts = append(in.Spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/x", Options: []string{"rbind", "tmpcopyup"}})
		}, "a mount to refuse"},
		{func(in *RootfsInput) {
			in.Spec.Mounts = append(in.Spec.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Options: []string{"rsync"}})
		}, "a mount to refuse"},
		{func(in *RootfsInput) {
			in.PureCgroup2 = false
			in.Spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, "a cgroup v1 mount without a cgroup namespace"},
		{func(in *RootfsInput) {
			in.Spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "q"}}
		}, "a device to refuse"},
	} {
		in := rootfsInput(specconv.Example())
		tc.edit(&in)
		p, why := Rootfs(in)
		if p != nil || !strings.Contains(why, tc.want) {
			t.Errorf("Rootfs() = %v, %q; want the Go init for %q", p != nil, why, tc.want)
		}
	}
}

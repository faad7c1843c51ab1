package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// linux.netDevices: host devices moved into the container's network
// namespace. The host devices are veth pairs (the test machines' kernels
// have veth but not always dummy): one end is moved, its peer stays on the
// host, and the kernel destroys both with the container's namespace.

var netdevSeq atomic.Int32

// hostVeth makes a veth pair on the host, NAME and NAMEp, with NAME up and
// the given `ip addr add` arguments, and returns NAME. Both ends are
// deleted when the test ends, wherever they are then.
func hostVeth(t *testing.T, addrs ...string) string {
	t.Helper()
	// Unique on the machine: other test binaries may run at the same time.
	name := fmt.Sprintf("snd%d%c", os.Getpid()%100000, 'a'+netdevSeq.Add(1)-1)
	t.Cleanup(func() {
		for _, n := range []string{name, name + "p"} {
			if hostHas(n) {
				exec.Command("ip", "link", "del", n).Run()
			}
		}
	})
	ipCmd(t, "link", "add", name, "type", "veth", "peer", "name", name+"p")
	for _, a := range addrs {
		ipCmd(t, append([]string{"addr", "add"}, append(strings.Fields(a), "dev", name)...)...)
	}
	ipCmd(t, "link", "set", name, "up")
	return name
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func hostHas(name string) bool {
	return exec.Command("ip", "link", "show", "dev", name).Run() == nil
}

// wantHostDevice checks that name is on the host, up, with the addresses.
func wantHostDevice(t *testing.T, name string, addrs ...string) {
	t.Helper()
	if !hostHas(name) {
		t.Fatalf("host device %s is gone", name)
	}
	out := ipCmd(t, "addr", "show", "dev", name)
	checkDevice(t, "host", name, out, addrs, nil)
}

// checkDevice checks `ip addr show dev NAME` output: the UP flag, the
// addresses wanted and those that must not be there.
func checkDevice(t *testing.T, where, name, out string, want, unwanted []string) {
	t.Helper()
	first, _, _ := strings.Cut(out, "\n")
	flags := first[strings.Index(first, "<")+1 : max(strings.Index(first, ">"), strings.Index(first, "<")+1)]
	if !strings.Contains(first, " "+name+"@") && !strings.Contains(first, " "+name+":") {
		t.Errorf("%s: no device %s in\n%s", where, name, out)
	}
	if !strings.Contains(","+flags+",", ",UP,") {
		t.Errorf("%s: %s is not up: <%s>", where, name, flags)
	}
	for _, a := range want {
		if !strings.Contains(out, " "+a+" ") {
			t.Errorf("%s: %s lacks address %s:\n%s", where, name, a, out)
		}
	}
	for _, a := range unwanted {
		if strings.Contains(out, " "+a+" ") {
			t.Errorf("%s: %s has address %s, which is not permanent and global:\n%s", where, name, a, out)
		}
	}
}

// waitHostGone waits for the kernel to destroy the host devices with the
// container's network namespace (asynchronously, after the last process).
func waitHostGone(t *testing.T, names ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range names {
		for hostHas(n) {
			if time.Now().After(deadline) {
				t.Errorf("%s still on the host after the container was deleted", n)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func netDevices(devs map[string]string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{}
		for host, name := range devs {
			s.Linux.NetDevices[host] = specs.LinuxNetDevice{Name: name}
		}
	}
}

func strataOnly(t *testing.T) {
	t.Helper()
	tu.StrataOnly(t, "linux.netDevices: the reference runc (1.1.5) ignores it")
}

func TestNetDevicesMoved(t *testing.T) {
	strataOnly(t)
	t.Parallel()
	// Permanent global addresses move; a link-scope one and one with a
	// lifetime do not.
	a := hostVeth(t, "10.231.1.2/24", "fd00:231:1::2/64 nodad", "169.254.231.1/16 scope link",
		"10.231.9.2/24 valid_lft 300 preferred_lft 300")
	b := hostVeth(t, "10.231.2.2/24")
	c := tu.NewContainer(t, with(
		netDevices(map[string]string{a: "ctr0", b: "net%d"}),
		sh("ip addr show dev ctr0 && echo -- && ip addr show dev net0")))
	out := c.MustRun()
	ctr0, net0, _ := strings.Cut(out, "--\n")
	checkDevice(t, "container", "ctr0", ctr0, []string{"10.231.1.2/24", "fd00:231:1::2/64"},
		[]string{"169.254.231.1/16", "10.231.9.2/24"})
	checkDevice(t, "container", "net0", net0, []string{"10.231.2.2/24"}, nil)
	if hostHas(a) || hostHas(b) {
		t.Errorf("moved devices still on the host")
	}
	// `run` deleted the container: the namespace, and the veth pairs with
	// it, are the kernel's to destroy.
	waitHostGone(t, a, a+"p", b, b+"p")
}

// TestNetDevicesCreated: the device is in place, renamed, while the
// container waits for start, and stays on the host only as its peer.
func TestNetDevicesCreated(t *testing.T) {
	strataOnly(t)
	t.Parallel()
	a := hostVeth(t, "10.231.3.2/24")
	c := tu.NewContainer(t, with(netDevices(map[string]string{a: ""}), sleeper))
	tu.Must(t, c.Create())
	pid := c.State().Pid
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-n", "ip", "addr", "show", "dev", a).CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v\n%s", err, out)
	}
	checkDevice(t, "container", a, string(out), []string{"10.231.3.2/24"}, nil)
	if hostHas(a) {
		t.Errorf("%s still on the host", a)
	}
	tu.Must(t, c.Runtime("delete", "--force", c.ID))
	waitHostGone(t, a, a+"p")
}

func TestNetDevicesRefused(t *testing.T) {
	strataOnly(t)
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(s *specs.Spec, dev string)
		want   string
	}{
		{"unknown", func(s *specs.Spec, dev string) {
			netDevices(map[string]string{dev: "ctr0", "sndnosuch0": ""})(s)
		}, `linux.netDevices["sndnosuch0"]: no such host network device`},
		{"clash", func(s *specs.Spec, dev string) {
			netDevices(map[string]string{dev: "lo"})(s)
		}, `linux.netDevices["%s"].name "lo": already exists in the container's network namespace`},
		{"duplicate", func(s *specs.Spec, dev string) {
			netDevices(map[string]string{dev: "ctr0", "sndother0": "ctr0"})(s)
		}, `.name "ctr0": also the name given to linux.netDevices[`},
		{"bad name", func(s *specs.Spec, dev string) {
			netDevices(map[string]string{dev: "a/b"})(s)
		}, `linux.netDevices["%s"].name "a/b": not a valid network device name`},
		{"no netns", func(s *specs.Spec, dev string) {
			netDevices(map[string]string{dev: ""})(s)
			withoutNamespace(specs.NetworkNamespace)(s)
		}, `linux.netDevices: the container needs a network namespace of its own`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dev := hostVeth(t, "10.231.4.2/24", "fd00:231:4::2/64 nodad")
			c := tu.NewContainer(t, func(s *specs.Spec) { tc.mutate(s, dev) })
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, dev)
			}
			wantErrorText(t, c.Run(), want)
			// Refused before anything moved.
			wantHostDevice(t, dev, "10.231.4.2/24", "fd00:231:4::2/64")
		})
	}
}

// TestNetDevicesBackOnFailure: a create that fails after the move (here a
// createRuntime hook) moves the devices back, as they were: a veth or
// dummy device would otherwise be destroyed with the namespace.
func TestNetDevicesBackOnFailure(t *testing.T) {
	strataOnly(t)
	t.Parallel()
	a := hostVeth(t, "10.231.5.2/24", "fd00:231:5::2/64 nodad")
	b := hostVeth(t, "10.231.6.2/24")
	bb := tu.Busybox(t)
	c := tu.NewContainer(t, with(netDevices(map[string]string{a: "ctr0", b: "net%d"}), func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: bb, Args: []string{"busybox", "false"}}}}
	}))
	wantErrorText(t, c.Run(), "hooks.createRuntime[0]")
	wantHostDevice(t, a, "10.231.5.2/24", "fd00:231:5::2/64")
	wantHostDevice(t, b, "10.231.6.2/24")
}

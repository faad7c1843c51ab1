package libcontainer

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestValidateNetDevices(t *testing.T) {
	ownNet := []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}
	for _, tc := range []struct {
		name string
		devs map[string]specs.LinuxNetDevice
		ns   []specs.LinuxNamespace
		want string // "" for valid
	}{
		{"none", nil, nil, ""},
		{"plain", map[string]specs.LinuxNetDevice{"eth1": {}}, ownNet, ""},
		{"renamed", map[string]specs.LinuxNetDevice{"eth1": {Name: "ctr0"}, "eth2": {Name: "net%d"}, "eth3": {Name: "net%d"}}, ownNet, ""},
		{"no netns", map[string]specs.LinuxNetDevice{"eth1": {}}, nil, `linux.netDevices: the container needs a network namespace of its own`},
		{"joined netns", map[string]specs.LinuxNetDevice{"eth1": {}}, []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}}, `linux.netDevices: the container needs`},
		{"long host name", map[string]specs.LinuxNetDevice{"abcdefghijklmnop": {}}, ownNet, `linux.netDevices["abcdefghijklmnop"]: not a valid network device name`},
		{"template host name", map[string]specs.LinuxNetDevice{"eth%d": {}}, ownNet, `linux.netDevices["eth%d"]: not a valid`},
		{"colon", map[string]specs.LinuxNetDevice{"eth1": {Name: "eth1:0"}}, ownNet, `linux.netDevices["eth1"].name "eth1:0": not a valid`},
		{"dot", map[string]specs.LinuxNetDevice{"eth1": {Name: ".."}}, ownNet, `.name "..": not a valid`},
		{"two templates", map[string]specs.LinuxNetDevice{"eth1": {Name: "a%db%d"}}, ownNet, `.name "a%db%d": not a valid`},
		{"bad template", map[string]specs.LinuxNetDevice{"eth1": {Name: "a%s"}}, ownNet, `.name "a%s": not a valid`},
		{"duplicate target", map[string]specs.LinuxNetDevice{"eth1": {Name: "ctr0"}, "eth2": {Name: "ctr0"}}, ownNet, `linux.netDevices["eth2"].name "ctr0": also the name given to linux.netDevices["eth1"]`},
		{"target is another host name", map[string]specs.LinuxNetDevice{"eth1": {}, "eth2": {Name: "eth1"}}, ownNet, `linux.netDevices["eth2"].name "eth1": also the name given to linux.netDevices["eth1"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &specs.Spec{Linux: &specs.Linux{NetDevices: tc.devs, Namespaces: tc.ns}}
			err := validateNetDevices(s)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAddrOn: an address re-added after a move is the one listed, on the
// new device, its label following the rename, with the attributes
// rtnetlink does not model, without lifetimes.
func TestAddrOn(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.IFA_RT_PRIORITY, 50)
	extra, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	host := &hostAddr{AddressMessage: rtnetlink.AddressMessage{
		Family: unix.AF_INET, PrefixLength: 24, Flags: unix.IFA_F_PERMANENT, Scope: unix.RT_SCOPE_UNIVERSE, Index: 7,
		Attributes: &rtnetlink.AddressAttributes{
			Address: net.IPv4(10, 0, 0, 2), Local: net.IPv4(10, 0, 0, 2), Broadcast: net.IPv4(10, 0, 0, 255),
			Label: "eth1:web", Flags: unix.IFA_F_PERMANENT | unix.IFA_F_NOPREFIXROUTE,
			CacheInfo: rtnetlink.CacheInfo{Preferred: 0xffffffff, Valid: 0xffffffff},
		},
	}, extra: extra}
	got := addrOn(host, 3, "eth1", "ctr0")
	b, err := got.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := host.AddressMessage
	wantAttrs := *host.Attributes
	wantAttrs.Label = "ctr0:web"
	want.Index, want.Attributes = 3, &wantAttrs
	wb, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if wb = append(wb, extra...); !bytes.Equal(b, wb) {
		t.Fatalf("request %x, want %x", b, wb)
	}
	if bytes.Contains(b, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("request carries the lifetimes: %x", b)
	}
	// The host's copy is not touched: undo re-adds it under the host name.
	if host.Index != 7 || host.Attributes.Label != "eth1:web" {
		t.Fatalf("host address changed: %+v %+v", host.AddressMessage, *host.Attributes)
	}
	// A label that does not start with the host name is kept as it is.
	host.Attributes.Label = "other"
	if l := addrOn(host, 3, "eth1", "ctr0").Attributes.Label; l != "other" {
		t.Fatalf("label %q", l)
	}
}

func TestAddrFlags(t *testing.T) {
	a := rtnetlink.AddressMessage{Flags: unix.IFA_F_PERMANENT}
	if addrFlags(&a) != unix.IFA_F_PERMANENT {
		t.Fatalf("flags %#x", addrFlags(&a))
	}
	// IFA_FLAGS, when present, holds all of them (the byte only the low 8).
	a = rtnetlink.AddressMessage{Attributes: &rtnetlink.AddressAttributes{Flags: 0x280}}
	if addrFlags(&a) != 0x280 {
		t.Fatalf("flags %#x", addrFlags(&a))
	}
}

// TestKernelError: a refusal reads as before the library, errno and the
// kernel's message, and still matches its errno (ENODEV: "no such host
// network device").
func TestKernelError(t *testing.T) {
	for _, tc := range []struct {
		err   error
		want  string
		errno unix.Errno
	}{
		{&netlink.OpError{Op: "receive", Err: unix.EINVAL, Message: "The interface netns is immutable"}, "invalid argument (The interface netns is immutable)", unix.EINVAL},
		{&netlink.OpError{Op: "receive", Err: unix.ENODEV}, "no such device", unix.ENODEV},
		{&netlink.OpError{Op: "receive", Err: os.NewSyscallError("recvmsg", unix.EBADF)}, "netlink receive: recvmsg: bad file descriptor", unix.EBADF},
	} {
		err := kernelError(tc.err)
		if err.Error() != tc.want || !errors.Is(err, tc.errno) {
			t.Errorf("%v: %q, want %q (%v)", tc.err, err, tc.want, tc.errno)
		}
	}
}

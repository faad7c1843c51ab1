package libcontainer

import (
	"bytes"
	"strings"
	"testing"

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

func TestRtAttrs(t *testing.T) {
	b := appendAttr(nil, unix.IFLA_IFNAME, append([]byte("eth1"), 0))
	b = appendAttr(b, unix.IFLA_NET_NS_FD, []byte{7, 0, 0, 0})
	b = appendAttr(b, unix.IFA_LABEL, []byte("x")) // padded to 4
	if len(b)%4 != 0 || len(b) != 12+8+8 {
		t.Fatalf("encoded length %d", len(b))
	}
	attrs := parseAttrs(b)
	if len(attrs) != 3 || attrs[0].typ != unix.IFLA_IFNAME || cstring(attrs[0].val) != "eth1" ||
		attrs[1].typ != unix.IFLA_NET_NS_FD || !bytes.Equal(attrs[1].val, []byte{7, 0, 0, 0}) ||
		string(attrs[2].val) != "x" {
		t.Fatalf("decoded %+v", attrs)
	}
	// A truncated attribute ends the list rather than reading past it.
	if got := parseAttrs(b[:len(b)-6]); len(got) != 2 {
		t.Fatalf("truncated: %+v", got)
	}
}

func TestIfAddrFlags(t *testing.T) {
	a := ifAddr{msg: unix.IfAddrmsg{Flags: unix.IFA_F_PERMANENT}}
	if a.flags() != unix.IFA_F_PERMANENT {
		t.Fatalf("flags %#x", a.flags())
	}
	// IFA_FLAGS, when present, holds all of them (the byte only the low 8).
	a.attrs = []rtAttr{{unix.IFA_FLAGS, []byte{0, 2, 0, 0}}}
	if a.flags() != 0x200 {
		t.Fatalf("flags %#x", a.flags())
	}
}

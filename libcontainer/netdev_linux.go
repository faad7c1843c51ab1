package libcontainer

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// linux.netDevices (runtime-spec config-linux.md, "Network Devices"): named
// host interfaces are moved into the container's network namespace, under
// a new name if asked (a "%d" template lets the kernel pick a free one),
// with their permanent global-scope addresses, and set up.
//
// The parent does it, from the runtime's namespaces, between nsenter's 'P'
// (the init's network namespace exists) and the config it sends: the init
// has not started its mounts, let alone the user's program. It speaks
// rtnetlink (jsimonetti/rtnetlink over mdlayher/netlink, no `ip`
// subprocess): one socket in its own network namespace and one opened
// inside the container's (dialRtnl).
//
// Every check is made before the first device moves (host device present,
// target name free in the container), so a refused create leaves the host
// as it was. Should a later step fail, the devices already moved are moved
// back under their host names with their addresses: a virtual device (veth,
// dummy) would otherwise be destroyed with the namespace. Once the
// container exists they are never moved back: the kernel returns physical
// devices to the host, and destroys virtual ones, with the namespace.

// validateNetDevices checks linux.netDevices against the rest of the spec,
// before anything is made.
func validateNetDevices(spec *specs.Spec) error {
	if spec.Linux == nil || len(spec.Linux.NetDevices) == 0 {
		return nil
	}
	if !hasOwnNamespace(spec, specs.NetworkNamespace) {
		return errors.New(`linux.netDevices: the container needs a network namespace of its own (a "network" entry without a path in linux.namespaces)`)
	}
	targets := map[string]string{}
	for _, host := range slices.Sorted(maps.Keys(spec.Linux.NetDevices)) {
		if !validIfName(host, false) {
			return fmt.Errorf("linux.netDevices[%q]: not a valid network device name", host)
		}
		name := spec.Linux.NetDevices[host].Name
		if name == "" {
			name = host
		} else if !validIfName(name, true) {
			return fmt.Errorf("linux.netDevices[%q].name %q: not a valid network device name (at most 15 characters, no '/', ':' or space, one %%d at most)", host, name)
		}
		if strings.Contains(name, "%") {
			continue // the kernel picks distinct names
		}
		if other, dup := targets[name]; dup {
			return fmt.Errorf("linux.netDevices[%q].name %q: also the name given to linux.netDevices[%q]", host, name, other)
		}
		targets[name] = host
	}
	return nil
}

// validIfName is the kernel's dev_valid_name, plus its rule for templates.
func validIfName(name string, template bool) bool {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n\v\f\r") {
		return false
	}
	i := strings.IndexByte(name, '%')
	return i < 0 || template && strings.HasPrefix(name[i:], "%d") && !strings.Contains(name[i+2:], "%")
}

// netDev is one device being moved.
type netDev struct {
	host, target string // names: on the host, asked for in the container
	hostIndex    uint32
	up           bool
	addrs        []*hostAddr // as listed on the host
	moved        bool
	index        uint32 // in the container, once moved
	name         string // in the container, once moved
}

// netDevices is the result of moveNetDevices: the devices it moved and
// what it needs to move them back should the create fail later.
type netDevices struct {
	devs        []*netDev
	host, ctr   *rtnetlink.Conn
	hostNS, net *os.File // network namespaces: the runtime's, the container's
}

// moveNetDevices moves linux.netDevices into the network namespace of
// the process pid. On failure the host is as it was. The caller must call
// done once the create has succeeded or failed.
func moveNetDevices(spec *specs.Spec, pid int) (*netDevices, error) {
	if spec.Linux == nil || len(spec.Linux.NetDevices) == 0 {
		return nil, nil
	}
	nd := &netDevices{}
	if err := nd.open(pid); err != nil {
		nd.close()
		return nil, fmt.Errorf("linux.netDevices: %w", err)
	}
	err := nd.move(spec.Linux.NetDevices)
	if err != nil {
		err = nd.undo(err)
		nd.close()
		return nil, err
	}
	return nd, nil
}

// done ends the move: on a failed create (*errp set) the devices go back
// to the host first.
func (nd *netDevices) done(errp *error) {
	if nd == nil {
		return
	}
	if *errp != nil {
		*errp = nd.undo(*errp)
	}
	nd.close()
}

func (nd *netDevices) open(pid int) (err error) {
	if nd.hostNS, err = os.Open("/proc/thread-self/ns/net"); err != nil {
		return err
	}
	if nd.net, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil {
		return fmt.Errorf("the container's network namespace: %w", err)
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(nd.hostNS.Fd()), &a); err != nil {
		return err
	}
	if err := unix.Fstat(int(nd.net.Fd()), &b); err != nil {
		return err
	}
	if a.Dev == b.Dev && a.Ino == b.Ino {
		return errors.New("the container shares the runtime's network namespace")
	}
	if nd.host, err = dialRtnl(nil); err != nil {
		return err
	}
	if nd.ctr, err = dialRtnl(nd.net); err != nil {
		return fmt.Errorf("in the container's network namespace: %w", err)
	}
	return nil
}

func (nd *netDevices) close() {
	for _, c := range []*rtnetlink.Conn{nd.host, nd.ctr} {
		if c != nil {
			c.Close()
		}
	}
	for _, f := range []*os.File{nd.hostNS, nd.net} {
		if f != nil {
			f.Close()
		}
	}
}

func (nd *netDevices) move(devices map[string]specs.LinuxNetDevice) error {
	// Look everything up first: nothing moves unless all of it can.
	for _, host := range slices.Sorted(maps.Keys(devices)) {
		d := &netDev{host: host, target: devices[host].Name}
		if d.target == "" {
			d.target = host
		}
		link, err := linkByName(nd.host, host)
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("linux.netDevices[%q]: no such host network device", host)
		}
		if err != nil {
			return fmt.Errorf("linux.netDevices[%q]: %w", host, err)
		}
		d.hostIndex, d.up = link.Index, link.Flags&unix.IFF_UP != 0
		nd.devs = append(nd.devs, d)
	}
	addrs, err := listAddrs(nd.host)
	if err != nil {
		return fmt.Errorf("linux.netDevices: list the host's addresses: %w", err)
	}
	for _, d := range nd.devs {
		for _, a := range addrs {
			if a.Index == d.hostIndex && a.Scope == unix.RT_SCOPE_UNIVERSE && addrFlags(&a.AddressMessage)&unix.IFA_F_PERMANENT != 0 {
				d.addrs = append(d.addrs, a)
			}
		}
	}
	links, err := linkNames(nd.ctr)
	if err != nil {
		return fmt.Errorf("linux.netDevices: list the container's devices: %w", err)
	}
	for _, d := range nd.devs {
		if _, taken := links[d.target]; taken && !strings.Contains(d.target, "%") {
			return fmt.Errorf("linux.netDevices[%q].name %q: already exists in the container's network namespace", d.host, d.target)
		}
	}
	for _, d := range nd.devs {
		if err := setNetns(nd.host, d.hostIndex, nd.net, d.target); err != nil {
			return fmt.Errorf("linux.netDevices[%q]: move into the container's network namespace as %q: %w", d.host, d.target, err)
		}
		d.moved = true
		// The kernel keeps the index when it is free there and may have
		// expanded a template: the new device is the one not seen before.
		after, err := linkNames(nd.ctr)
		if err != nil {
			return fmt.Errorf("linux.netDevices[%q]: %w", d.host, err)
		}
		for name, idx := range after {
			if _, seen := links[name]; !seen {
				d.name, d.index = name, idx
			}
		}
		links = after
		if d.index == 0 {
			return fmt.Errorf("linux.netDevices[%q]: not found in the container's network namespace after the move", d.host)
		}
		if err := configure(nd.ctr, d.index, d.host, d.name, d.addrs, true); err != nil {
			return fmt.Errorf("linux.netDevices[%q]: %w", d.host, err)
		}
	}
	return nil
}

// undo moves the devices moved so far back to the host, as they were, and
// returns err with what could not be undone.
func (nd *netDevices) undo(err error) error {
	for i := len(nd.devs) - 1; i >= 0; i-- {
		d := nd.devs[i]
		if !d.moved {
			continue
		}
		uerr := func() error {
			if d.index == 0 {
				return errors.New("lost track of it")
			}
			if err := setNetns(nd.ctr, d.index, nd.hostNS, d.host); err != nil {
				return err
			}
			link, err := linkByName(nd.host, d.host)
			if err != nil {
				return err
			}
			return configure(nd.host, link.Index, d.host, d.host, d.addrs, d.up)
		}()
		if uerr != nil {
			err = fmt.Errorf("%w (and moving %q back to the host: %v)", err, d.host, uerr)
		}
	}
	return err
}

// dialRtnl opens a NETLINK_ROUTE socket in the network namespace ns (nil:
// the calling thread's), bound to it for its whole life. For another
// namespace the library enters it on a locked thread and then returns that
// thread to the runtime's namespace; only if it cannot go back does the
// thread stay locked, and end: no other goroutine may run in the
// container's namespace. (Threads are not thrown away otherwise: the
// init's parent-death signal is tied to the thread that started it.)
func dialRtnl(ns *os.File) (*rtnetlink.Conn, error) {
	cfg := &netlink.Config{}
	if ns != nil {
		cfg.NetNS = int(ns.Fd())
	}
	c, err := rtnetlink.Dial(cfg)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	// The kernel's own words for a refusal (extended ack). Not
	// NETLINK_CAP_ACK: this netlink reads the TLVs after the request's
	// length, which a capped ack does not echo.
	_ = c.SetOption(netlink.ExtendedAcknowledge, true)
	return c, nil
}

// kernelError is a refusal in the kernel's words: its errno, and the
// extended ack's message if it sent one ("invalid argument (The interface
// netns is immutable)"), without netlink's "netlink receive:" and offset.
func kernelError(err error) error {
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return err
	}
	errno, ok := oe.Err.(unix.Errno)
	if !ok { // a failed system call, not a refusal
		return err
	}
	if oe.Message != "" {
		return fmt.Errorf("%w (%s)", errno, oe.Message)
	}
	return errno
}

// linkByName looks a device up by name (RTM_GETLINK with IFLA_IFNAME).
func linkByName(c *rtnetlink.Conn, name string) (*rtnetlink.LinkMessage, error) {
	req := &rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{Name: name}}
	msgs, err := c.Execute(req, unix.RTM_GETLINK, netlink.Request)
	if err != nil {
		return nil, kernelError(err)
	}
	for _, m := range msgs {
		if link, ok := m.(*rtnetlink.LinkMessage); ok {
			return link, nil
		}
	}
	return nil, errors.New("no RTM_NEWLINK reply")
}

// linkNames lists the namespace's devices: name to index.
func linkNames(c *rtnetlink.Conn) (map[string]uint32, error) {
	links, err := c.Link.List()
	if err != nil {
		return nil, kernelError(err)
	}
	out := map[string]uint32{}
	for _, l := range links {
		if l.Attributes != nil {
			out[l.Attributes.Name] = l.Index
		}
	}
	return out, nil
}

// setNetns moves device index, in c's namespace, into the namespace ns
// under name, in one request (a template with "%d" lets the kernel expand
// it there; the name is never taken in the wrong namespace on the way).
func setNetns(c *rtnetlink.Conn, index uint32, ns *os.File, name string) error {
	return kernelError(c.Link.Set(&rtnetlink.LinkMessage{
		Index: index,
		Attributes: &rtnetlink.LinkAttributes{
			Name:  name,
			NetNS: rtnetlink.NetNSForFD(uint32(ns.Fd())),
		},
	}))
}

// hostAddr is an address as listed: what rtnetlink models, and the
// attributes worth copying that it does not: the metric of the address's
// prefix route (IFA_RT_PRIORITY; rtnetlink v2.3 has it, but needs a
// cilium/ebpf newer than the one opencontainers/cgroups is built with here)
// and who added the address (IFA_PROTO, Linux 5.18).
type hostAddr struct {
	rtnetlink.AddressMessage
	extra []byte // those attributes, encoded
}

// MarshalBinary makes *hostAddr a request (an rtnetlink.Message: it has
// the rest of the interface from the AddressMessage it embeds).
func (a *hostAddr) MarshalBinary() ([]byte, error) {
	b, err := a.AddressMessage.MarshalBinary()
	return append(b, a.extra...), err
}

// ifaProto is IFA_PROTO, which x/sys/unix does not name.
const ifaProto = 11

// listAddrs lists the namespace's addresses, of every family.
func listAddrs(c *rtnetlink.Conn) ([]*hostAddr, error) {
	if _, err := c.Send(&rtnetlink.AddressMessage{}, unix.RTM_GETADDR, netlink.Request|netlink.Dump); err != nil {
		return nil, kernelError(err)
	}
	msgs, raw, err := c.Receive()
	if err != nil {
		return nil, kernelError(err)
	}
	var out []*hostAddr
	for i, m := range msgs {
		am, ok := m.(*rtnetlink.AddressMessage)
		if !ok || am.Attributes == nil {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(raw[i].Data[unix.SizeofIfAddrmsg:])
		if err != nil {
			return nil, err
		}
		ae := netlink.NewAttributeEncoder()
		for ad.Next() {
			if t := ad.Type(); t == unix.IFA_RT_PRIORITY || t == ifaProto {
				ae.Bytes(t, ad.Bytes())
			}
		}
		a := &hostAddr{AddressMessage: *am}
		if a.extra, err = ae.Encode(); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// configure re-adds the addresses a move dropped (as listed on the host,
// their labels renamed from the host name to name), and sets the device
// up if asked.
func configure(c *rtnetlink.Conn, index uint32, hostName, name string, addrs []*hostAddr, up bool) error {
	for _, a := range addrs {
		if _, err := c.Execute(addrOn(a, index, hostName, name), unix.RTM_NEWADDR,
			netlink.Request|netlink.Create|netlink.Excl|netlink.Acknowledge); err != nil {
			return fmt.Errorf("add address %s: %w", addrString(&a.AddressMessage), kernelError(err))
		}
	}
	if !up {
		return nil
	}
	if err := c.Link.Set(&rtnetlink.LinkMessage{Index: index, Flags: unix.IFF_UP, Change: unix.IFF_UP}); err != nil {
		return fmt.Errorf("set up: %w", kernelError(err))
	}
	return nil
}

// addrOn is the request that adds a, as listed, to device index: the same
// header and attributes (family, prefix, scope, flags, local, peer,
// broadcast, metric, protocol), the label renamed from the host name to
// name, and no lifetimes (IFA_CACHEINFO is not sent: the address stays
// permanent).
func addrOn(a *hostAddr, index uint32, hostName, name string) *hostAddr {
	m := *a
	m.Index = index
	attrs := *a.Attributes
	if rest, ok := strings.CutPrefix(attrs.Label, hostName); ok && attrs.Label != "" {
		attrs.Label = name + rest
	}
	attrs.Flags = addrFlags(&a.AddressMessage)
	m.Attributes = &attrs
	return &m
}

// addrFlags is all of a's flags: IFA_FLAGS holds them all, the header's
// byte only the low 8 (all there is without IFA_FLAGS, before Linux 3.14).
func addrFlags(a *rtnetlink.AddressMessage) uint32 {
	f := uint32(a.Flags)
	if a.Attributes != nil {
		f |= a.Attributes.Flags
	}
	return f
}

func addrString(a *rtnetlink.AddressMessage) string {
	if at := a.Attributes; at != nil {
		ip := at.Local
		if ip == nil {
			ip = at.Address
		}
		if ip != nil {
			return fmt.Sprintf("%s/%d", ip, a.PrefixLength)
		}
	}
	return fmt.Sprintf("family %d /%d", a.Family, a.PrefixLength)
}

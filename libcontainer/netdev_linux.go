package libcontainer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"unsafe"

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
// rtnetlink directly (no `ip` subprocess): one socket in its own network
// namespace and one opened inside the container's (openRtnlIn).
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
	for _, host := range sortedKeys(spec.Linux.NetDevices) {
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
	hostIndex    int32
	up           bool
	addrs        []ifAddr
	moved        bool
	index        int32  // in the container, once moved
	name         string // in the container, once moved
}

// ifAddr is one address: its ifaddrmsg and the attributes worth copying.
type ifAddr struct {
	msg   unix.IfAddrmsg
	attrs []rtAttr
	label string // IFA_LABEL (IPv4), "" without
}

func (a *ifAddr) String() string {
	for _, at := range a.attrs {
		if at.typ == unix.IFA_LOCAL || at.typ == unix.IFA_ADDRESS {
			return fmt.Sprintf("%s/%d", net.IP(at.val), a.msg.Prefixlen)
		}
	}
	return fmt.Sprintf("family %d /%d", a.msg.Family, a.msg.Prefixlen)
}

// netDevices is the result of moveNetDevices: the devices it moved and
// what it needs to move them back should the create fail later.
type netDevices struct {
	devs        []*netDev
	host, ctr   *rtnl
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
	if nd.host, err = openRtnl(); err != nil {
		return err
	}
	nd.ctr, err = openRtnlIn(nd.net, nd.hostNS)
	return err
}

func (nd *netDevices) close() {
	for _, r := range []*rtnl{nd.host, nd.ctr} {
		if r != nil {
			unix.Close(r.fd)
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
	for _, host := range sortedKeys(devices) {
		d := &netDev{host: host, target: devices[host].Name}
		if d.target == "" {
			d.target = host
		}
		link, err := nd.host.link(host)
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("linux.netDevices[%q]: no such host network device", host)
		}
		if err != nil {
			return fmt.Errorf("linux.netDevices[%q]: %w", host, err)
		}
		d.hostIndex, d.up = link.Index, link.Flags&unix.IFF_UP != 0
		nd.devs = append(nd.devs, d)
	}
	addrs, err := nd.host.addrs()
	if err != nil {
		return fmt.Errorf("linux.netDevices: list the host's addresses: %w", err)
	}
	for _, d := range nd.devs {
		for _, a := range addrs {
			if int32(a.msg.Index) == d.hostIndex && a.msg.Scope == unix.RT_SCOPE_UNIVERSE && a.flags()&unix.IFA_F_PERMANENT != 0 {
				d.addrs = append(d.addrs, a)
			}
		}
	}
	links, err := nd.ctr.links()
	if err != nil {
		return fmt.Errorf("linux.netDevices: list the container's devices: %w", err)
	}
	for _, d := range nd.devs {
		if _, taken := links[d.target]; taken && !strings.Contains(d.target, "%") {
			return fmt.Errorf("linux.netDevices[%q].name %q: already exists in the container's network namespace", d.host, d.target)
		}
	}
	for _, d := range nd.devs {
		if err := nd.host.setNetns(d.hostIndex, nd.net, d.target); err != nil {
			return fmt.Errorf("linux.netDevices[%q]: move into the container's network namespace as %q: %w", d.host, d.target, err)
		}
		d.moved = true
		// The kernel keeps the index when it is free there and may have
		// expanded a template: the new device is the one not seen before.
		after, err := nd.ctr.links()
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
		if err := nd.ctr.configure(d.index, d.host, d.name, d.addrs, true); err != nil {
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
			if err := nd.ctr.setNetns(d.index, nd.hostNS, d.host); err != nil {
				return err
			}
			link, err := nd.host.link(d.host)
			if err != nil {
				return err
			}
			return nd.host.configure(link.Index, d.host, d.host, d.addrs, d.up)
		}()
		if uerr != nil {
			err = fmt.Errorf("%w (and moving %q back to the host: %v)", err, d.host, uerr)
		}
	}
	return err
}

// configure re-adds the addresses a move dropped (as listed on the host,
// their labels renamed from the host name to name), and sets the device
// up if asked.
func (r *rtnl) configure(index int32, hostName, name string, addrs []ifAddr, up bool) error {
	for _, a := range addrs {
		msg := a.msg
		msg.Index = uint32(index)
		body := append([]byte(nil), structBytes(&msg)...)
		for _, at := range a.attrs {
			body = appendAttr(body, at.typ, at.val)
		}
		if a.label != "" {
			label := a.label
			if rest, ok := strings.CutPrefix(label, hostName); ok {
				label = name + rest
			}
			body = appendAttr(body, unix.IFA_LABEL, append([]byte(label), 0))
		}
		if _, err := r.do(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body); err != nil {
			return fmt.Errorf("add address %s: %w", &a, err)
		}
	}
	if !up {
		return nil
	}
	m := unix.IfInfomsg{Index: index, Flags: unix.IFF_UP, Change: unix.IFF_UP}
	if _, err := r.do(unix.RTM_NEWLINK, 0, structBytes(&m)); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

func (a *ifAddr) flags() uint32 {
	for _, at := range a.attrs {
		if at.typ == unix.IFA_FLAGS && len(at.val) == 4 {
			return binary.NativeEndian.Uint32(at.val)
		}
	}
	return uint32(a.msg.Flags)
}

// rtnl is a NETLINK_ROUTE socket, bound to the network namespace of the
// thread that opened it for its whole life.
type rtnl struct {
	fd  int
	seq uint32
}

func openRtnl() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	// The kernel's own words for a refusal (extended ack), without a copy
	// of the request.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return &rtnl{fd: fd}, nil
}

// openRtnlIn opens an rtnetlink socket in the network namespace ns, on a
// locked thread that enters ns and then returns to the runtime's (hostNS).
//
// The thread is not thrown away (a locked goroutine that exits ends its
// thread): the init's parent-death signal is tied to the thread that
// started it, and that may be this one. Only if it cannot go back does it
// stay locked, and end: no other goroutine may run in the container's
// namespace.
func openRtnlIn(ns, hostNS *os.File) (*rtnl, error) {
	type result struct {
		r   *rtnl
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter the container's network namespace: %w", err)}
			return
		}
		r, err := openRtnl()
		if berr := unix.Setns(int(hostNS.Fd()), unix.CLONE_NEWNET); berr != nil {
			ch <- result{r, err}
			return // still locked: the thread ends
		}
		runtime.UnlockOSThread()
		ch <- result{r, err}
	}()
	res := <-ch
	return res.r, res.err
}

// link looks a device up by name.
func (r *rtnl) link(name string) (*unix.IfInfomsg, error) {
	var m unix.IfInfomsg
	body := appendAttr(structBytes(&m), unix.IFLA_IFNAME, append([]byte(name), 0))
	msgs, err := r.do(unix.RTM_GETLINK, 0, body)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return nil, errors.New("short RTM_GETLINK reply")
	}
	m = *(*unix.IfInfomsg)(unsafe.Pointer(&msgs[0][0]))
	return &m, nil
}

// links lists the namespace's devices: name to index.
func (r *rtnl) links() (map[string]int32, error) {
	var m unix.IfInfomsg
	msgs, err := r.do(unix.RTM_GETLINK, unix.NLM_F_DUMP, structBytes(&m))
	if err != nil {
		return nil, err
	}
	out := map[string]int32{}
	for _, b := range msgs {
		if len(b) < unix.SizeofIfInfomsg {
			continue
		}
		info := (*unix.IfInfomsg)(unsafe.Pointer(&b[0]))
		for _, at := range parseAttrs(b[unix.SizeofIfInfomsg:]) {
			if at.typ == unix.IFLA_IFNAME {
				out[cstring(at.val)] = info.Index
			}
		}
	}
	return out, nil
}

// addrs lists the namespace's addresses, of every family.
func (r *rtnl) addrs() ([]ifAddr, error) {
	var m unix.IfAddrmsg
	msgs, err := r.do(unix.RTM_GETADDR, unix.NLM_F_DUMP, structBytes(&m))
	if err != nil {
		return nil, err
	}
	var out []ifAddr
	for _, b := range msgs {
		if len(b) < unix.SizeofIfAddrmsg {
			continue
		}
		a := ifAddr{msg: *(*unix.IfAddrmsg)(unsafe.Pointer(&b[0]))}
		for _, at := range parseAttrs(b[unix.SizeofIfAddrmsg:]) {
			switch at.typ {
			case unix.IFA_ADDRESS, unix.IFA_LOCAL, unix.IFA_BROADCAST, unix.IFA_FLAGS,
				unix.IFA_RT_PRIORITY, ifaProto:
				a.attrs = append(a.attrs, at)
			case unix.IFA_LABEL:
				a.label = cstring(at.val)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// setNetns moves device index into the namespace ns under name (a
// template with "%d" lets the kernel expand it there).
func (r *rtnl) setNetns(index int32, ns *os.File, name string) error {
	m := unix.IfInfomsg{Index: index}
	body := structBytes(&m)
	fd := make([]byte, 4)
	binary.NativeEndian.PutUint32(fd, uint32(ns.Fd()))
	body = appendAttr(body, unix.IFLA_NET_NS_FD, fd)
	body = appendAttr(body, unix.IFLA_IFNAME, append([]byte(name), 0))
	_, err := r.do(unix.RTM_NEWLINK, 0, body)
	return err
}

// do sends one request and collects the payloads of its replies until the
// ack (or the end of a dump).
func (r *rtnl) do(typ uint16, flags uint16, body []byte) ([][]byte, error) {
	r.seq++
	hdr := unix.NlMsghdr{
		Len:   uint32(unix.SizeofNlMsghdr + len(body)),
		Type:  typ,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | flags,
		Seq:   r.seq,
	}
	req := append(append([]byte(nil), structBytes(&hdr)...), body...)
	if err := unix.Sendto(r.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out [][]byte
	buf := make([]byte, 1<<16)
	for {
		n, _, rflags, _, err := unix.Recvmsg(r.fd, buf, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rflags&unix.MSG_TRUNC != 0 {
			return nil, errors.New("netlink reply truncated")
		}
		b := buf[:n]
		for len(b) >= unix.SizeofNlMsghdr {
			h := *(*unix.NlMsghdr)(unsafe.Pointer(&b[0]))
			if h.Len < unix.SizeofNlMsghdr || int(h.Len) > len(b) {
				return nil, errors.New("malformed netlink reply")
			}
			data := b[unix.SizeofNlMsghdr:h.Len]
			b = b[min(nlAlign(int(h.Len)), len(b)):]
			if h.Seq != r.seq {
				continue
			}
			switch h.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(data) < 4 {
					return nil, errors.New("short netlink error")
				}
				errno := -int32(binary.NativeEndian.Uint32(data))
				if errno == 0 {
					return out, nil
				}
				return nil, ackError(unix.Errno(errno), h.Flags, data)
			default: // a reply; the ack (or NLMSG_DONE) follows
				out = append(out, append([]byte(nil), data...))
			}
		}
	}
}

// ackError adds the kernel's extended-ack message to errno, if it sent one.
func ackError(errno unix.Errno, flags uint16, data []byte) error {
	// errno, the request's header (NETLINK_CAP_ACK), then the TLVs.
	off := 4 + unix.SizeofNlMsghdr
	if flags&unix.NLM_F_ACK_TLVS != 0 && len(data) > off {
		for _, at := range parseAttrs(data[off:]) {
			if at.typ == unix.NLMSGERR_ATTR_MSG {
				if msg := cstring(at.val); msg != "" {
					return fmt.Errorf("%w (%s)", errno, msg)
				}
			}
		}
	}
	return errno
}

// ifaProto is IFA_PROTO (Linux 5.18): who added the address.
const ifaProto = 11

type rtAttr struct {
	typ uint16
	val []byte
}

func parseAttrs(b []byte) []rtAttr {
	var out []rtAttr
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		out = append(out, rtAttr{typ, append([]byte(nil), b[unix.SizeofRtAttr:l]...)})
		b = b[min(nlAlign(l), len(b)):]
	}
	return out
}

func appendAttr(b []byte, typ uint16, val []byte) []byte {
	l := unix.SizeofRtAttr + len(val)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	return append(b, make([]byte, nlAlign(l)-l)...)
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// structBytes is the memory of a netlink header struct (no pointers, no
// implicit padding the kernel would mind), copied.
func structBytes[T unix.NlMsghdr | unix.IfInfomsg | unix.IfAddrmsg](v *T) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))...)
}

func cstring(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

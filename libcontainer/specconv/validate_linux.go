package specconv

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsTypes lists the spec's namespace names with their clone flags, which is
// what the NS_GET_NSTYPE ioctl answers, and their /proc/self/ns file names.
// An array, not a map: it is laid out by the linker, where a map would be
// built by a package initialiser that every strata start pays for.
var nsTypes = [...]nsTypeInfo{
	{specs.PIDNamespace, unix.CLONE_NEWPID, "pid"},
	{specs.NetworkNamespace, unix.CLONE_NEWNET, "net"},
	{specs.MountNamespace, unix.CLONE_NEWNS, "mnt"},
	{specs.IPCNamespace, unix.CLONE_NEWIPC, "ipc"},
	{specs.UTSNamespace, unix.CLONE_NEWUTS, "uts"},
	{specs.UserNamespace, unix.CLONE_NEWUSER, "user"},
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup"},
	{specs.TimeNamespace, unix.CLONE_NEWTIME, "time"},
}

type nsTypeInfo struct {
	typ  specs.LinuxNamespaceType
	flag int
	proc string
}

// nsType looks t up in nsTypes.
func nsType(t specs.LinuxNamespaceType) (nsTypeInfo, bool) {
	for _, n := range nsTypes {
		if n.typ == t {
			return n, true
		}
	}
	return nsTypeInfo{}, false
}

// linux checks the linux section and the top-level fields that only make sense
// with a namespace from it (hostname, domainname).
func (v *validator) linux() {
	l := v.spec.Linux
	if l == nil {
		l = &specs.Linux{}
	}
	ns := v.namespaces(l.Namespaces)
	v.idMappings(l, ns)
	for _, f := range []struct{ field, value string }{
		{"hostname", v.spec.Hostname}, {"domainname", v.spec.Domainname},
	} {
		if f.value == "" {
			continue
		}
		// Without a uts namespace of the container's it would rename the
		// host. A joined one is renamed, as runc does and the spec allows
		// ("the container UTS namespace may be the runtime UTS namespace"
		// is about the absent case, which stays refused).
		if _, ok := ns[specs.UTSNamespace]; !ok {
			v.fail(f.field, "%q needs a uts namespace in linux.namespaces", f.value)
		}
	}
	v.sysctls(l.Sysctl, ns)
	v.timeOffsets(l.TimeOffsets, ns)
	v.devices(l.Devices)
	v.absPaths("linux.maskedPaths", l.MaskedPaths)
	v.absPaths("linux.readonlyPaths", l.ReadonlyPaths)
}

// namespaces checks the list and returns the valid entries by type.
func (v *validator) namespaces(list []specs.LinuxNamespace) map[specs.LinuxNamespaceType]specs.LinuxNamespace {
	byType := make(map[specs.LinuxNamespaceType]specs.LinuxNamespace)
	first := make(map[specs.LinuxNamespaceType]int)
	for i, n := range list {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		t, known := nsType(n.Type)
		if !known {
			v.fail(field, "unknown namespace type %q", n.Type)
			continue
		}
		if j, dup := first[n.Type]; dup {
			v.fail(field, "duplicate type %q (also linux.namespaces[%d])", n.Type, j)
			continue
		}
		first[n.Type] = i
		byType[n.Type] = n
		if n.Path == "" {
			continue
		}
		if !filepath.IsAbs(n.Path) {
			v.fail(field, "path %q is not absolute", n.Path)
			continue
		}
		if err := checkNamespaceFile(n.Path, n.Type, t.flag); err != nil {
			v.fail(field, "path %q: %v", n.Path, err)
		}
	}
	return byType
}

// checkNamespaceFile asks the kernel what kind of namespace path is: the spec
// requires an error when it is not the type the entry claims.
func checkNamespaceFile(path string, typ specs.LinuxNamespaceType, want int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return errors.New("does not exist")
		}
		return err
	}
	defer unix.Close(fd)
	got, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return errors.New("not a namespace file")
	}
	if got != want {
		for _, t := range nsTypes {
			if t.flag == got {
				return fmt.Errorf("is a %s namespace, not %s", t.typ, typ)
			}
		}
		return fmt.Errorf("is a namespace of unknown type %#x, not %s", got, typ)
	}
	return nil
}

// idMappings: a new user namespace is useless without mappings (every id in
// it would be the overflow id), and mappings mean nothing without one. A
// joined user namespace already has its mappings; runc accepts them listed
// again, so do we.
func (v *validator) idMappings(l *specs.Linux, ns map[specs.LinuxNamespaceType]specs.LinuxNamespace) {
	user, hasUser := ns[specs.UserNamespace]
	for _, m := range []struct {
		field string
		maps  []specs.LinuxIDMapping
	}{{"linux.uidMappings", l.UIDMappings}, {"linux.gidMappings", l.GIDMappings}} {
		if len(m.maps) > 0 && !hasUser {
			v.fail(m.field, "set, but linux.namespaces has no user namespace")
		}
		if len(m.maps) == 0 && hasUser && user.Path == "" {
			v.fail(m.field, "required with a new user namespace")
		}
		for i, e := range m.maps {
			if e.Size == 0 {
				v.fail(fmt.Sprintf("%s[%d].size", m.field, i), "0 (expected at least 1)")
			}
		}
	}
}

// ipcSysctls are the kernel.* keys that belong to the IPC namespace (see
// ipc_sysctl.c in the kernel); fs.mqueue.* belongs to it too.
var ipcSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
	"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}

// sysctls refuses keys that would change the host: only keys of a namespace
// the container does not share with the runtime may be set, the same rule
// runc applies.
func (v *validator) sysctls(sysctl map[string]string, ns map[specs.LinuxNamespaceType]specs.LinuxNamespace) {
	keys := make([]string, 0, len(sysctl))
	for k := range sysctl {
		keys = append(keys, k)
	}
	slices.Sort(keys) // map order is random; messages should not be
	for _, key := range keys {
		field := fmt.Sprintf("linux.sysctl %q", key)
		// sysctl(8) accepts both net.ipv4.ip_forward and net/ipv4/ip_forward.
		k := strings.ReplaceAll(key, "/", ".")
		var need specs.LinuxNamespaceType
		switch {
		case slices.Contains(ipcSysctls, k) || strings.HasPrefix(k, "fs.mqueue."):
			need = specs.IPCNamespace
		case strings.HasPrefix(k, "net."):
			need = specs.NetworkNamespace
		case k == "kernel.hostname":
			v.fail(field, `conflicts with the "hostname" field; set that instead`)
			continue
		case k == "kernel.domainname":
			if v.spec.Domainname != "" {
				v.fail(field, `conflicts with the "domainname" field`)
				continue
			}
			need = specs.UTSNamespace
		default:
			v.fail(field, "not in a namespace the container can own (setting it would change the host)")
			continue
		}
		if why := ownNamespace(ns, need); why != "" {
			v.fail(field, "needs the container's own %s namespace: %s", need, why)
		}
	}
}

// ownNamespace returns why the container does not have a namespace of type t
// separate from the runtime's, or "" when it does.
func ownNamespace(ns map[specs.LinuxNamespaceType]specs.LinuxNamespace, t specs.LinuxNamespaceType) string {
	n, ok := ns[t]
	if !ok {
		return "none in linux.namespaces"
	}
	if n.Path == "" {
		return ""
	}
	// Joining is fine unless the path is the runtime's own namespace.
	var joined, host unix.Stat_t
	info, _ := nsType(t)
	if unix.Stat(n.Path, &joined) != nil || unix.Stat("/proc/self/ns/"+info.proc, &host) != nil {
		return "" // the path itself is reported by namespaces()
	}
	if joined.Dev == host.Dev && joined.Ino == host.Ino {
		return fmt.Sprintf("path %q is the host's", n.Path)
	}
	return ""
}

func (v *validator) timeOffsets(offsets map[string]specs.LinuxTimeOffset, ns map[specs.LinuxNamespaceType]specs.LinuxNamespace) {
	if len(offsets) == 0 {
		return
	}
	// Offsets can only be written before the first process enters the
	// namespace, so a joined one will not do.
	if n, ok := ns[specs.TimeNamespace]; !ok || n.Path != "" {
		v.fail("linux.timeOffsets", "needs a new time namespace in linux.namespaces")
	}
	clocks := make([]string, 0, len(offsets))
	for c := range offsets {
		clocks = append(clocks, c)
	}
	slices.Sort(clocks)
	for _, c := range clocks {
		if c != "monotonic" && c != "boottime" {
			v.fail(fmt.Sprintf("linux.timeOffsets %q", c), `unknown clock (expected "monotonic" or "boottime")`)
		}
		if off := offsets[c]; off.Nanosecs >= 1e9 {
			v.fail(fmt.Sprintf("linux.timeOffsets %q.nanosecs", c), "%d (expected less than 1000000000)", off.Nanosecs)
		}
	}
}

func (v *validator) devices(devs []specs.LinuxDevice) {
	seen := make(map[string]int)
	for i, d := range devs {
		field := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) || !strings.HasPrefix(filepath.Clean(d.Path), "/dev/") {
			v.fail(field+".path", "%q is not an absolute path under /dev", d.Path)
		} else if j, dup := seen[filepath.Clean(d.Path)]; dup {
			v.fail(field+".path", "%q duplicates linux.devices[%d]", d.Path, j)
		} else {
			seen[filepath.Clean(d.Path)] = i
		}
		switch d.Type {
		case "c", "b", "u":
			if d.Major < 0 || d.Minor < 0 {
				v.fail(field, "device number %d:%d is negative", d.Major, d.Minor)
			}
		case "p":
		default:
			v.fail(field+".type", "%q (expected c, b, u or p)", d.Type)
		}
		// The type comes from the type field; the mode holds permission
		// bits (setuid, setgid and sticky included), as chmod(2) takes.
		if d.FileMode != nil && uint32(*d.FileMode)&^0o7777 != 0 {
			v.fail(field+".fileMode", "%#o has bits beyond the permissions 07777", uint32(*d.FileMode))
		}
	}
}

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultDevices are the nodes every container gets (runtime-spec
// config-linux.md "Default Devices"); linux.devices may override them.
var DefaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devSymlinks are the links runc and crun create in /dev; "core" is added
// only where the kernel has /proc/kcore (DevLinks).
var devSymlinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

// setupDev populates /dev with the default devices, linux.devices, the
// standard symlinks and /dev/ptmx. A /dev bind-mounted from elsewhere is
// taken as it is, as runc does.
func (p *preparer) setupDev() error {
	if DevIsBound(p.c.Spec) {
		return nil
	}
	for _, d := range Devices(p.c.Spec) {
		if err := p.createDevice(d.LinuxDevice); err != nil {
			return fmt.Errorf("%s: %w", d.What, err)
		}
	}

	dev, err := p.root.mkdirTarget("/dev")
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	defer dev.Close()
	_, err = os.Stat("/proc/kcore")
	for _, l := range DevLinks(err == nil) {
		// An existing entry is the image's choice; keep it.
		if err := unix.Symlinkat(l[1], int(dev.Fd()), l[0]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s -> %s: %w", l[0], l[1], err)
		}
	}
	// The devpts instance mounted on /dev/pts (newinstance) has its own
	// ptmx; /dev/ptmx must lead there, not to a host-wide node.
	if err := unix.Unlinkat(int(dev.Fd()), "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove /dev/ptmx: %w", err)
	}
	if err := unix.Symlinkat("pts/ptmx", int(dev.Fd()), "ptmx"); err != nil {
		return fmt.Errorf("symlink /dev/ptmx -> pts/ptmx: %w", err)
	}
	return nil
}

// NamedDevice is a device node of the container's /dev, with the words that
// name it in a failure.
type NamedDevice struct {
	specs.LinuxDevice
	What string
}

// Devices lists the nodes a container's /dev gets, in the order they are
// made: the default devices the spec does not override, then
// linux.devices.
func Devices(spec *specs.Spec) []NamedDevice {
	var specDevices []specs.LinuxDevice
	if spec.Linux != nil {
		specDevices = spec.Linux.Devices
	}
	overridden := map[string]bool{}
	for _, d := range specDevices {
		overridden[filepath.Clean(d.Path)] = true
	}
	var out []NamedDevice
	for _, d := range DefaultDevices {
		if !overridden[d.Path] {
			out = append(out, NamedDevice{d, "default device " + d.Path})
		}
	}
	for i, d := range specDevices {
		out = append(out, NamedDevice{d, fmt.Sprintf("linux.devices[%d] %q", i, d.Path)})
	}
	return out
}

// DevLinks are the symlinks a container's /dev gets (besides ptmx),
// name then target; /dev/core only where the host has /proc/kcore.
func DevLinks(kcore bool) [][2]string {
	if !kcore {
		return devSymlinks
	}
	return append(devSymlinks[:len(devSymlinks):len(devSymlinks)], [2]string{"core", "/proc/kcore"})
}

// DevIsBound says whether spec bind-mounts /dev from elsewhere: then it is
// taken as it is, with no device nodes or symlinks added.
func DevIsBound(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) != "/dev" {
			continue
		}
		if m.Type == "bind" {
			return true
		}
		for _, o := range m.Options {
			if o == "bind" || o == "rbind" {
				return true
			}
		}
	}
	return false
}

// createDevice makes one device node, replacing whatever non-directory is
// at its path. In a user namespace mknod is refused, so the host's node
// at the same path is bind-mounted instead (its owner and mode stay the
// host's).
func (p *preparer) createDevice(d specs.LinuxDevice) error {
	if p.c.InUserNS {
		return p.bindHostDevice(d.Path)
	}
	mode, err := NodeMode(d)
	if err != nil {
		return err
	}
	var uid, gid int
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}

	rel, err := p.root.resolve(d.Path)
	if err != nil {
		return err
	}
	parent, err := pathrs.MkdirAllHandle(p.root.fd, filepath.Dir(rel), 0o755)
	if err != nil {
		return fmt.Errorf("create parent directory: %w", err)
	}
	defer parent.Close()
	dirfd, base := int(parent.Fd()), filepath.Base(rel)
	if err := unix.Unlinkat(dirfd, base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove existing file: %w", err)
	}
	if err := unix.Mknodat(dirfd, base, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	if err := unix.Fchownat(dirfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
	}
	return nil
}

// NodeMode is the mknod(2) mode of device d: its file type and
// permissions (0666 unless fileMode says otherwise).
func NodeMode(d specs.LinuxDevice) (uint32, error) {
	var kind uint32
	switch d.Type {
	case "c", "u":
		kind = unix.S_IFCHR
	case "b":
		kind = unix.S_IFBLK
	case "p":
		kind = unix.S_IFIFO
	default:
		return 0, fmt.Errorf("type %q: expected c, b, u or p", d.Type)
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	return kind | mode, nil
}

func (p *preparer) bindHostDevice(path string) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("bind host device (user namespace): open_tree: %w", err)
	}
	tree := os.NewFile(uintptr(fd), path)
	defer tree.Close()
	target, err := p.root.fileTarget(path)
	if err != nil {
		return err
	}
	defer target.Close()
	return attach(tree, target)
}

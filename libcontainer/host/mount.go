package host

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// The mount probes make detached mounts (fsmount, open_tree): the kernel
// drops them when the last fd is closed, so nothing stays mounted. The one
// attach (MoveMount) happens in a private mount namespace of a thread that
// exits with it.

// tempDir makes a probe directory under dir ("" for $TMPDIR), removed by
// the returned function.
func tempDir(dir string) (string, func(), error) {
	d, err := os.MkdirTemp(dir, "strata-probe-")
	if err != nil {
		return "", func() {}, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// openTree clones path as a detached mount.
func openTree(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// MountAPI tries the new mount API (Linux 5.2): fsopen, fsconfig and
// fsmount of a tmpfs, detached.
func MountAPI() Result {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fromErr("fsopen(tmpfs)", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fromErr("fsconfig(FSCONFIG_CMD_CREATE)", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fromErr("fsmount", err)
	}
	unix.Close(mfd)
	return ok("")
}

// OpenTree tries open_tree(OPEN_TREE_CLONE) of a temporary directory.
func OpenTree() Result {
	dir, done, err := tempDir("")
	if err != nil {
		return fromErr("mkdtemp", err)
	}
	defer done()
	tree, err := openTree(dir)
	if err != nil {
		return fromErr("open_tree(OPEN_TREE_CLONE)", err)
	}
	tree.Close()
	return ok("")
}

// MoveMount attaches a detached tree with move_mount. So that no mount
// appears on the host, it does so on a thread of its own in a new,
// private mount namespace; the thread is never unlocked, so Go ends it
// (and the namespace) when the goroutine returns.
func MoveMount() Result {
	dir, done, err := tempDir("")
	if err != nil {
		return fromErr("mkdtemp", err)
	}
	defer done()
	res := make(chan Result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			res <- fromErr("unshare(CLONE_NEWNS) for the probe", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			res <- fromErr("make the probe's mount namespace private", err)
			return
		}
		tree, err := openTree(dir)
		if err != nil {
			res <- fromErr("open_tree(OPEN_TREE_CLONE)", err)
			return
		}
		defer tree.Close()
		err = unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH)
		res <- fromErr("move_mount", err)
	}()
	return <-res
}

// MountSetattr makes a detached clone read-only with mount_setattr (Linux
// 5.12) and checks that it is.
func MountSetattr() Result {
	dir, done, err := tempDir("")
	if err != nil {
		return fromErr("mkdtemp", err)
	}
	defer done()
	tree, err := openTree(dir)
	if err != nil {
		return fromErr("open_tree(OPEN_TREE_CLONE)", err)
	}
	defer tree.Close()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(int(tree.Fd()), "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fromErr("mount_setattr(MOUNT_ATTR_RDONLY)", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(tree.Fd()), &st); err != nil {
		return fromErr("fstatfs", err)
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		return absent("mount_setattr(MOUNT_ATTR_RDONLY) succeeded but the mount is not read-only")
	}
	return ok("")
}

// IDMapMount makes a real idmapped mount (Linux 5.12; per filesystem, tmpfs
// from 6.3): a detached clone of a temporary directory, idmapped with a
// new user namespace, through which the directory must show the mapped
// owner. Support depends on the filesystem, so it tries $TMPDIR and then
// /var/tmp when that is another filesystem; Detail names the one that
// worked.
func IDMapMount() Result {
	ns, err := newUserNS(probeMapHost)
	if err != nil {
		return absent("%v", err)
	}
	defer ns.Close()
	var reasons []string
	seen := map[int64]bool{}
	for _, parent := range []string{os.TempDir(), "/var/tmp"} {
		var st unix.Statfs_t
		if unix.Statfs(parent, &st) != nil || seen[st.Type] {
			continue
		}
		seen[st.Type] = true
		fs := fsName(st.Type)
		if err := idmapIn(parent, ns); err != nil {
			reasons = append(reasons, fmt.Sprintf("%s (%s): %v", parent, fs, err))
			continue
		}
		return ok(fmt.Sprintf("on %s (%s)", fs, parent))
	}
	if len(reasons) == 0 {
		return absent("no temporary directory to try")
	}
	return absent("%s", strings.Join(reasons, "; "))
}

func idmapIn(parent string, userns *os.File) error {
	dir, done, err := tempDir(parent)
	if err != nil {
		return err
	}
	defer done()
	var disk unix.Stat_t
	if err := unix.Stat(dir, &disk); err != nil {
		return err
	}
	tree, err := openTree(dir)
	if err != nil {
		return fmt.Errorf("open_tree(OPEN_TREE_CLONE): %s", errnoName(err))
	}
	defer tree.Close()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(int(tree.Fd()), "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mount_setattr(MOUNT_ATTR_IDMAP): %s", errnoName(err))
	}
	var seenAs unix.Stat_t
	if err := unix.Fstat(int(tree.Fd()), &seenAs); err != nil {
		return err
	}
	if disk.Uid < 65536 && seenAs.Uid != probeMapHost+disk.Uid {
		return fmt.Errorf("idmapped mount shows owner %d for %d, want %d", seenAs.Uid, disk.Uid, probeMapHost+disk.Uid)
	}
	return nil
}

func fsName(magic int64) string {
	switch magic {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	}
	return fmt.Sprintf("filesystem %#x", magic)
}

// Overlay tells whether overlayfs can be mounted: listed in
// /proc/filesystems, or loaded on demand by fsopen (as mount would).
func Overlay() Result {
	data, err := os.ReadFile("/proc/filesystems")
	if err == nil && bytes.Contains(data, []byte("\toverlay\n")) {
		return ok("")
	}
	fsfd, ferr := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if ferr == nil {
		unix.Close(fsfd)
		return ok("loaded on demand")
	}
	if err != nil {
		return absent("%v; fsopen(overlay): %s", err, errnoName(ferr))
	}
	return absent("not in /proc/filesystems; fsopen(overlay): %s", errnoName(ferr))
}

// OverlayLowerdirPlus mounts, detached, an overlay of two empty lower
// directories each given by fsconfig("lowerdir+") (Linux 6.8), which
// lifts the page-size limit of the classic lowerdir= option string.
func OverlayLowerdirPlus() Result {
	dir, done, err := tempDir("")
	if err != nil {
		return fromErr("mkdtemp", err)
	}
	defer done()
	lowers := []string{filepath.Join(dir, "l1"), filepath.Join(dir, "l2")}
	for _, l := range lowers {
		if err := os.Mkdir(l, 0o700); err != nil {
			return fromErr("mkdir", err)
		}
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fromErr("fsopen(overlay)", err)
	}
	defer unix.Close(fsfd)
	// Before 6.5 overlayfs has no fs_context: fsconfig then takes any key
	// for a legacy mount(2) string, and only the create would refuse
	// lowerdir+, with a line in the kernel log. An unknown key tells that
	// without the create (a filesystem with its own context refuses it).
	if unix.FsconfigSetString(fsfd, "strata-probe-unknown-option", "1") == nil {
		return absent("overlayfs takes options only as a legacy mount(2) string (no fs_context, Linux < 6.5)")
	}
	for _, l := range lowers {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			return absent("fsconfig(lowerdir+): %s%s", errnoName(err), FsContextLog(fsfd))
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return absent("fsconfig(FSCONFIG_CMD_CREATE): %s%s", errnoName(err), FsContextLog(fsfd))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fromErr("fsmount", err)
	}
	unix.Close(mfd)
	return ok("")
}

// FsContextLog reads the messages the kernel left on an fs context (which
// option it refused and why), as " (kernel: ...)" for an error's end.
func FsContextLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (kernel: " + strings.Join(msgs, "; ") + ")"
}

// Openat2 resolves "../f" with openat2(RESOLVE_IN_ROOT) (Linux 5.6) from a
// temporary directory holding f: it must stay in the directory and find
// that f.
func Openat2() Result {
	dir, done, err := tempDir("")
	if err != nil {
		return fromErr("mkdtemp", err)
	}
	defer done()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		return fromErr("create", err)
	}
	var want unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "f"), &want); err != nil {
		return fromErr("stat", err)
	}
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fromErr("open", err)
	}
	defer unix.Close(dfd)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}
	var fd int
	for {
		fd, err = unix.Openat2(dfd, "../f", &how)
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fromErr("openat2(RESOLVE_IN_ROOT)", err)
	}
	defer unix.Close(fd)
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		return fromErr("fstat", err)
	}
	if got.Ino != want.Ino || got.Dev != want.Dev {
		return absent("openat2(RESOLVE_IN_ROOT) resolved ../f outside the root")
	}
	return ok("")
}

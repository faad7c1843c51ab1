package bundle

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/overlay"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// mountOverlayIDMapped mounts the overlay of a user-namespaced bundle: each
// lower layer (top first) seen through an idmapped mount that shows the
// store's host-root files as owned by the mapped ids, so the container's
// root owns its rootfs with neither a chown nor a copy, and the store's
// layers stay as they are for every other bundle. upper and work are plain
// directories, owned by the mapped root already.
//
// overlayfs takes idmapped layers since Linux 5.19, but before 6.15 it
// refuses a detached mount (an open_tree clone attached nowhere) as a
// layer: it clones each layer privately and that clone must come from a
// mount in the caller's namespace. So, as containerd does, the idmapped
// layers are attached to temporary directories first. Here those live in a
// mount namespace of a throwaway thread (on a tmpfs over the bundle's
// rootfs, private to that namespace): the host's namespace never sees them,
// and they go away with the thread even if strata is killed half-way. The
// overlay is mounted there, cloned (open_tree) and the clone moved onto the
// target in the host's namespace.
func mountOverlayIDMapped(target string, lowers []string, upper, work string, uids, gids []specs.LinuxIDMapping) error {
	userns, err := rootfs.NewUserNS(uids, gids)
	if err != nil {
		return fmt.Errorf("overlay on %s: user namespace for the idmapped layers: %w", target, err)
	}
	defer userns.Close()
	tree := -1
	err = overlay.OnThrowawayThread(func() error {
		var err error
		tree, err = idmappedOverlayTree(target, lowers, upper, work, userns)
		return err
	})
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("overlay on %s: move_mount of the idmapped overlay: %w", target, err)
	}
	return nil
}

// idmappedOverlayTree runs on a thread of its own: it leaves the host's
// mount namespace for a private copy, builds the overlay there and returns
// it as a detached tree (an fd), which outlives the namespace.
func idmappedOverlayTree(target string, lowers []string, upper, work string, userns *os.File) (int, error) {
	fail := func(step string, err error) (int, error) {
		return -1, fmt.Errorf("overlay on %s with idmapped layers: %s: %w", target, step, err)
	}
	// CLONE_NEWNS implies CLONE_FS: the chdir below stays on this thread.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fail("unshare(CLONE_NEWNS)", err)
	}
	// Private first: shared mounts of the copy are still peers of the
	// host's, and the scratch mounts would propagate back.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("make the private namespace's mounts private", err)
	}
	if err := unix.Mount("strata-idmap", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fail("scratch tmpfs", err)
	}
	// Layers are named by their index relative to the scratch directory:
	// four bytes a layer keep even classic lowerdir= (Linux < 6.8) within
	// one page for overlayfs's 500 layers, so the short fd form, which
	// mounts from another thread, is never needed here.
	if err := unix.Chdir(target); err != nil {
		return fail("chdir to the scratch tmpfs", err)
	}
	names := make([]string, len(lowers))
	for i, l := range lowers {
		names[i] = strconv.Itoa(i)
		if err := attachIDMapped(l, names[i], userns); err != nil {
			return fail("layer "+l, err)
		}
	}
	const merged = "merged"
	if err := unix.Mkdir(merged, 0o700); err != nil {
		return fail("mkdir", err)
	}
	if err := overlay.Mount(merged, names, upper, work, overlay.Options{}); err != nil {
		return -1, fmt.Errorf("idmapped layers of %s (named by index, top first): %w", target, err)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, merged, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fail("open_tree of the overlay", err)
	}
	return tree, nil
}

// attachIDMapped mounts dir, idmapped through userns, on the new directory
// name: a clone of dir's mount (open_tree), made idmapped while it is still
// detached, as mount_setattr requires, then attached.
func attachIDMapped(dir, name string, userns *os.File) error {
	if err := unix.Mkdir(name, 0o700); err != nil {
		return err
	}
	tree, err := rootfs.IDMappedClone(dir, userns)
	if err != nil {
		return fmt.Errorf("%w (idmapped mounts need Linux 5.12+ and a store filesystem that supports them; see strata check)", err)
	}
	defer tree.Close()
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, name, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// containerView returns the path to read a bundle's upper directory from
// with the ids its container sees, and how to release it. In a bundle with
// a user namespace, upper holds the host ids the container's map to (its
// root's files are 100000:100000 for 0:100000:65536); a layer made from it
// must hold the container's own, as the image's layers do. So it is read
// through a detached idmapped clone, made with the inverse maps, named by
// its fd under /proc/self/fd: no copy, no chown, nothing mounted anywhere.
// Host ids outside the maps (overlayfs's own whiteouts, made as the
// mounter) read as the overflow id; diff writes whiteouts without owners.
func containerView(upper string, rec *Record) (string, func(), error) {
	if len(rec.UIDMappings) == 0 {
		return upper, func() {}, nil
	}
	userns, err := rootfs.NewUserNS(inverse(rec.UIDMappings), inverse(rec.GIDMappings))
	if err != nil {
		return "", nil, fmt.Errorf("%s through the container's ids: user namespace: %w", upper, err)
	}
	defer userns.Close()
	tree, err := rootfs.IDMappedClone(upper, userns)
	if err != nil {
		return "", nil, fmt.Errorf("reading it with the container's ids: %w", err)
	}
	// The trailing slash makes the walk's first lstat follow the magic link.
	return fmt.Sprintf("/proc/self/fd/%d/", tree.Fd()), func() { tree.Close() }, nil
}

// inverse swaps the two sides of an id map.
func inverse(m []specs.LinuxIDMapping) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, len(m))
	for i, e := range m {
		out[i] = specs.LinuxIDMapping{ContainerID: e.HostID, HostID: e.ContainerID, Size: e.Size}
	}
	return out
}

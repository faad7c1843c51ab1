package rootfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// pivotRoot makes rootfs the namespace's root with pivot_root(".", "."):
// the old root ends up stacked on the new one at "/", reachable through
// an fd opened before, and is detached from there. No put_old directory
// has to be created in (and later removed from) the container's rootfs.
func pivotRoot(rootfs string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	newRoot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open rootfs %q: %w", rootfs, err)
	}
	defer unix.Close(newRoot)

	if err := unix.Fchdir(newRoot); err != nil {
		return fmt.Errorf("pivot_root: chdir to rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %q: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("pivot_root: chdir to old root: %w", err)
	}
	// The old root may still be shared with the host (rootfsPropagation
	// "shared"): make it a slave first so detaching it here does not
	// unmount anything on the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("pivot_root: make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("pivot_root: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: chdir /: %w", err)
	}
	return nil
}

// moveRoot is --no-pivot: move the rootfs mount onto "/" and chroot into
// it. A chroot can be escaped, so first everything mounted outside the
// rootfs is detached (or covered, where a user namespace locks it): an
// escape then finds only the directories on the way to the rootfs.
func moveRoot(rootfs string) error {
	if err := hideOutsideMounts(rootfs); err != nil {
		return err
	}
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("no-pivot: chdir to rootfs %q: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("no-pivot: move rootfs mount onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("no-pivot: chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("no-pivot: chdir /: %w", err)
	}
	return nil
}

// hideOutsideMounts detaches, deepest first, every mount that is neither
// the rootfs, below it, nor on the path to it.
func hideOutsideMounts(rootfs string) error {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return fmt.Errorf("no-pivot: read mountinfo: %w", err)
	}
	var outside []string
	for _, m := range mounts {
		mp := m.Mountpoint
		if mp == rootfs || isBelow(mp, rootfs) || isBelow(rootfs, mp) {
			continue
		}
		outside = append(outside, mp)
	}
	sort.Slice(outside, func(i, j int) bool { return len(outside[i]) > len(outside[j]) })
	for _, mp := range outside {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err == nil {
			continue
		}
		// Locked by a user namespace (EINVAL): cover it instead. Children
		// went first, so the mount point itself still exists.
		if err := cover(mp); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("no-pivot: hide host mount %s: %w", mp, err)
		}
	}
	return nil
}

// cover hides a mount that cannot be detached: an empty read-only tmpfs
// over a directory, the null device over a file (a bind-mounted file, such
// as a network namespace's under /run/netns, which a chroot escape could
// otherwise setns into; a tmpfs cannot be mounted on a file: ENOTDIR).
func cover(mp string) error {
	var st unix.Stat_t
	if err := unix.Stat(mp, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.Mount("tmpfs", mp, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
	return unix.Mount("/dev/null", mp, "", unix.MS_BIND, "")
}

// isBelow reports whether path is strictly inside dir.
func isBelow(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

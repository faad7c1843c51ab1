package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/host"
)

// WhiteoutMode says what a layer's whiteout entries (image-spec layer.md) become.
type WhiteoutMode int

const (
	// OverlayWhiteouts keeps the layer as an overlayfs lower directory:
	// .wh.NAME becomes a 0/0 character device and .wh..wh..opq the
	// overlay.opaque xattr (trusted.*, or user.* in a user namespace:
	// xattrns.go), which overlayfs interprets at lookup.
	OverlayWhiteouts WhiteoutMode = iota
	// ApplyWhiteouts applies the layer onto the layers below it in the same
	// directory (a flattened rootfs): whiteouts delete what they name.
	ApplyWhiteouts
	// NoWhiteouts is for an archive that is not a layer (ADD's): a .wh.
	// name is refused, naming the entry. It can be neither a deletion nor
	// a file: a later layer made of it would read as a whiteout.
	NoWhiteouts
)

const (
	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	whiteoutOpaque     = ".wh..wh..opq"
	paxXattrPrefix     = "SCHILY.xattr."

	maxNameLen    = unix.PathMax
	maxXattrValue = 64 << 10
	// maxOpenDirs bounds the cache of open parent directories.
	maxOpenDirs = 256
)

// ApplyOptions tunes ApplyTar.
type ApplyOptions struct {
	Whiteouts WhiteoutMode
	// Unprivileged refuses device nodes and keeps the caller's ownership, as
	// an unprivileged unpack must; it is implied when not running as root.
	Unprivileged bool
}

// ApplyTar unpacks an uncompressed layer tar into dir. Every path is resolved
// beneath dir without following symlinks, so a hostile entry can only fail:
// absolute names, ".." components, entries under a symlinked parent and hard
// links to missing or outside targets are errors naming the entry.
func ApplyTar(dir string, r io.Reader, opts ApplyOptions) error {
	rootFd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	a := &applier{
		rootFd:     rootFd,
		mode:       opts.Whiteouts,
		privileged: os.Geteuid() == 0 && !opts.Unprivileged,
		dirs:       map[string]int{},
		created:    map[string]bool{},
		buf:        make([]byte, 256<<10),
	}
	if a.mode == OverlayWhiteouts {
		// A fresh layer directory: names rarely clash, so parallel writes pay.
		a.startPool()
	}
	defer a.close()
	tr := tar.NewReader(r)
	last := "(start of archive)"
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the tar header after entry %q: %w", last, err)
		}
		last = hdr.Name
		if err := a.entry(hdr, tr); err != nil {
			var named *entryError
			if errors.As(err, &named) {
				return err
			}
			return &entryError{hdr.Name, err}
		}
	}
	if err := a.wait(); err != nil {
		return err
	}
	return a.setDirTimes()
}

type applier struct {
	rootFd     int
	mode       WhiteoutMode
	privileged bool
	// dirs caches open parent directories by layer-relative path; removing a
	// directory empties it, as a cached fd could then point at a deleted one.
	dirs map[string]int
	// dirTimes are set last: creating entries inside a directory changes its mtime.
	dirTimes []dirTime
	// created holds the paths this layer wrote, which its own whiteouts must
	// not delete (layer.md: whiteouts apply to lower layers only).
	created map[string]bool
	buf     []byte
	pool    *writerPool // nil: every file is written in line
}

type dirTime struct {
	name  string
	times []unix.Timespec
}

func (a *applier) close() {
	a.stopPool()
	a.closeDirs()
	unix.Close(a.rootFd)
}

func (a *applier) closeDirs() {
	for k, fd := range a.dirs {
		unix.Close(fd)
		delete(a.dirs, k)
	}
}

// forget drops cached directories at or below name, which is being removed:
// their fds would point at deleted directories. Its parent stays valid.
func (a *applier) forget(name string) {
	for k, fd := range a.dirs {
		if k == name || strings.HasPrefix(k, name+"/") {
			unix.Close(fd)
			delete(a.dirs, k)
		}
	}
}

// entryName validates a tar entry name and returns it cleaned and relative
// ("" for the layer root).
func entryName(n string) (string, error) {
	if len(n) > maxNameLen {
		return "", fmt.Errorf("name is %d bytes, longer than PATH_MAX (%d)", len(n), maxNameLen)
	}
	// umoci insert ... / names the layer's root "/" (its other entries are
	// relative): the root entry, as "./" is. Any other absolute name is
	// refused.
	if strings.Trim(n, "/") == "" && n != "" {
		return "", nil
	}
	if strings.HasPrefix(n, "/") {
		return "", errors.New("absolute name: layer entries must be relative")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", errors.New(`name has a ".." component`)
		}
		if len(part) > unix.NAME_MAX {
			return "", fmt.Errorf("name component is %d bytes, longer than NAME_MAX", len(part))
		}
	}
	if c := path.Clean(n); c != "." {
		return c, nil
	}
	return "", nil
}

// splitName returns the parent directory ("" for the root) and base of a cleaned name.
func splitName(name string) (string, string) {
	dir, base := path.Split(name)
	return strings.TrimSuffix(dir, "/"), base
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the layer root can only be a directory")
		}
		if err := a.setMetadata(a.rootFd, ".", "", hdr); err != nil {
			return err
		}
		return a.markRootEntry()
	}
	dir, base := splitName(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		if a.mode == NoWhiteouts {
			return fmt.Errorf("a %s name is a whiteout in an image, so it cannot be added as a file", whiteoutPrefix)
		}
		return a.whiteout(dir, base)
	}
	if a.busy(name) {
		if err := a.wait(); err != nil {
			return err
		}
	}
	pfd, err := a.parent(dir, true)
	if err != nil {
		return err
	}
	if queued, err := a.dispatch(pfd, base, name, hdr, r); queued || err != nil {
		return err
	}
	return a.place(pfd, base, name, hdr, r)
}

// place writes an entry in line: its file, then its metadata.
func (a *applier) place(pfd int, base, name string, hdr *tar.Header, r io.Reader) error {
	// Creating first and clearing only on EEXIST saves a stat per entry in
	// the common case, a fresh layer directory.
	if (hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock) && a.privileged && host.InUserNamespace() {
		// Root of a user namespace (a rootless store) may make no device
		// node. An image's are leftovers: the runtime makes a container's
		// /dev. So the entry is left out, as containers/storage does for
		// rootless podman, rather than failing the whole image.
		return nil
	}
	err := a.create(pfd, base, name, hdr, r)
	if errors.Is(err, unix.EEXIST) {
		var isDir bool
		if isDir, err = a.clear(pfd, name, base, hdr.Typeflag == tar.TypeDir); err == nil && !isDir {
			err = a.create(pfd, base, name, hdr, r)
		}
	}
	if err != nil || hdr.Typeflag == tar.TypeLink {
		// A hard link shares its target's inode and metadata: nothing to set.
		return err
	}
	a.created[name] = true
	return a.setMetadata(pfd, base, name, hdr)
}

// create makes the entry's file, failing with EEXIST if the name is taken.
func (a *applier) create(pfd int, base, name string, hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse: //nolint:staticcheck // old writers still emit TypeRegA
		return a.writeFile(pfd, base, r)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
	case tar.TypeLink:
		return a.hardlink(pfd, base, name, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.mknod(pfd, base, hdr)
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	return nil
}

// parent opens the directory dir of the layer (cached), creating missing
// components when create is set, as tar does for entries without parent entries.
func (a *applier) parent(dir string, create bool) (int, error) {
	if dir == "" {
		return a.rootFd, nil
	}
	if fd, ok := a.dirs[dir]; ok {
		return fd, nil
	}
	fd, err := openBeneath(a.rootFd, dir)
	if errors.Is(err, unix.ENOENT) && create {
		pdir, base := splitName(dir)
		pfd, perr := a.parent(pdir, true)
		if perr != nil {
			return -1, perr
		}
		if err := unix.Mkdirat(pfd, base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("creating parent directory %q: %w", dir, err)
		}
		fd, err = openBeneath(a.rootFd, dir)
	}
	switch {
	case errors.Is(err, unix.ELOOP):
		return -1, fmt.Errorf("parent directory %q is a symlink (or under one): refusing to write through it", dir)
	case errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("parent %q is not a directory", dir)
	case err != nil:
		return -1, fmt.Errorf("parent directory %q: %w", dir, err)
	}
	if len(a.dirs) >= maxOpenDirs {
		if err := a.wait(); err != nil { // workers may hold these fds
			return -1, err
		}
		a.closeDirs()
	}
	a.dirs[dir] = fd
	return fd, nil
}

// openBeneath opens a directory below root, refusing symlinks anywhere in
// the path and any escape from root.
func openBeneath(root int, dir string) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	for {
		fd, err := unix.Openat2(root, dir, how)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

// clear makes room for a new entry whose name is taken: an existing
// directory stays when the entry is a directory too (its metadata is
// updated); anything else goes.
func (a *applier) clear(pfd int, name, base string, wantDir bool) (bool, error) {
	if err := a.wait(); err != nil { // what goes may be a directory being written into
		return false, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, fmt.Errorf("stat: %w", err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir && wantDir {
		return true, nil
	}
	if isDir {
		a.forget(name)
	}
	if err := removeAllAt(pfd, base); err != nil {
		return false, fmt.Errorf("replacing the existing entry: %w", err)
	}
	return false, nil
}

func (a *applier) writeFile(pfd int, base string, r io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	for {
		n, rerr := r.Read(a.buf)
		if n > 0 {
			if err := writeAll(fd, a.buf[:n]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("reading the entry's data: %w", rerr)
		}
	}
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		b = b[n:]
	}
	return nil
}

func (a *applier) hardlink(pfd int, base, name, linkname string) error {
	if err := a.wait(); err != nil { // the target must be complete
		return err
	}
	target, err := entryName(linkname)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", linkname, err)
	}
	if target == "" || target == name {
		return fmt.Errorf("hard link target %q: cannot link to the layer root or to itself", linkname)
	}
	tdir, tbase := splitName(target)
	tfd, err := a.parent(tdir, false)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("hard link target %q does not exist in the layer", linkname)
		}
		return fmt.Errorf("hard link target %q: %w", linkname, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("hard link target %q does not exist in the layer", linkname)
		}
		return fmt.Errorf("hard link target %q: %w", linkname, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hard link target %q is a directory", linkname)
	}
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	a.created[name] = true
	return nil
}

func (a *applier) mknod(pfd int, base string, hdr *tar.Header) error {
	var mode uint32
	switch hdr.Typeflag {
	case tar.TypeFifo:
		mode = unix.S_IFIFO
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	if mode != unix.S_IFIFO && !a.privileged {
		return fmt.Errorf("device node %d:%d: creating device nodes needs root (CAP_MKNOD)", hdr.Devmajor, hdr.Devminor)
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return nil
}

// setMetadata applies owner, mode, xattrs and times in the only order that
// keeps them all: chown clears setuid bits and security.capability, so it
// comes first; times come last since the others change ctime only.
func (a *applier) setMetadata(pfd int, base, name string, hdr *tar.Header) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	if a.privileged {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	if !isLink {
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %o: %w", hdr.Mode&0o7777, err)
		}
	}
	if err := a.setXattrs(pfd, base, hdr); err != nil {
		return err
	}
	mtime := hdr.ModTime
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = mtime
	}
	times := []unix.Timespec{timespec(atime), timespec(mtime)}
	if hdr.Typeflag == tar.TypeDir {
		a.dirTimes = append(a.dirTimes, dirTime{name: name, times: times})
		return nil
	}
	if err := unix.UtimesNanoAt(pfd, base, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Sec: 0, Nsec: 0}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// setXattrs applies the entry's SCHILY.xattr records, except overlayfs's own
// and strata's (reservedXattr): opaque directories come only from
// .wh..wh..opq entries, and strata's marks only from strata (rootentry.go).
func (a *applier) setXattrs(pfd int, base string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattrPrefix)
		if !ok || reservedXattr(attr) {
			continue
		}
		if len(v) > maxXattrValue {
			return fmt.Errorf("xattr %s: value of %d bytes exceeds %d", attr, len(v), maxXattrValue)
		}
		p := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
		if err := unix.Lsetxattr(p, attr, []byte(v), 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}

func (a *applier) setDirTimes() error {
	for i := len(a.dirTimes) - 1; i >= 0; i-- {
		dt := a.dirTimes[i]
		pfd, base := a.rootFd, "."
		if dt.name != "" {
			dir, b := splitName(dt.name)
			fd, err := a.parent(dir, false)
			if errors.Is(err, unix.ENOENT) {
				continue // replaced later in the same layer
			}
			if err != nil {
				return fmt.Errorf("entry %q: set times: %w", dt.name, err)
			}
			pfd, base = fd, b
		}
		err := unix.UtimesNanoAt(pfd, base, dt.times, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("entry %q: set times: %w", dt.name, err)
		}
	}
	return nil
}

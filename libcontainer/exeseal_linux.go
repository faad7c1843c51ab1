package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The init runs from a sealed strata binary: /proc/<init>/exe (and the
// binary a container reaches with a "#!/proc/self/exe" script) must not
// be writable, or the container can overwrite the host's strata
// (CVE-2019-5736). There are several ways to get such a binary; which
// ones a kernel allows differs between 5.14 and 6.18, so the first call
// tries them in order and the process keeps the first that works.
//
// The order, with the cost of one seal of the 9.5 MB strata binary,
// including closing the fd afterwards (BenchmarkSeal, STRATA_BINARY set,
// on the 2-CPU 6.18 test VM under a load of 4, so ranges over runs;
// ratios matter, absolute times drift between machines):
//
//	overlay-lowerdir+   0.24-0.53 ms   zero-copy; read-only by construction
//	overlay-lowerdir    0.20-0.58 ms   the same, for kernels without lowerdir+
//	memfd               5.1-8.7 ms     a sealed copy: 9.5 MB of memory per start
//	bind                0.07-0.21 ms   read-only only as a mount flag
//
// Of those, closing takes about half of the overlay's figure and most of
// the bind's (unmounting a detached mount waits for an RCU grace period),
// and 1 ms of the memfd's (freeing its pages).
//
// The overlay comes first: it copies nothing, and an overlayfs without an
// upper layer is read-only at the superblock, so no mount flag, remount
// or clone of the mount can make the file writable. The memfd copy is as
// safe (its seals are the kernel's promise that it never changes) but
// costs a copy of the binary per container. The bind is cheapest, but
// its read-only-ness is a flag on a mount of the host's own writable
// filesystem, so it comes last (see sealBind).
var defaultSealer = &sealer{methods: []sealMethod{
	{"overlay-lowerdir+", sealOverlayPlus},
	{"overlay-lowerdir", sealOverlayClassic},
	{"memfd", sealMemfd},
	{"bind", sealBind},
}}

// sealedExe returns an fd of the strata binary that cannot be written
// through, for process.go to exec the init from (as /proc/self/fd/N) and
// for the init to execveat later; and the name of the method that made it.
func sealedExe() (*os.File, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("seal the strata binary: %w", err)
	}
	return defaultSealer.seal(self)
}

// SealMethod seals the strata binary as a container start would and says
// which method worked (the first of the chain the kernel allows), for
// `strata check`.
func SealMethod() (string, error) {
	f, method, err := sealedExe()
	if err != nil {
		return "", err
	}
	f.Close()
	return method, nil
}

// A sealMethod makes a sealed fd of the binary at path.
type sealMethod struct {
	name string
	seal func(path string) (*os.File, error)
}

// sealer tries its methods in order and remembers the first that worked:
// the kernel's answer does not change while the process runs, so later
// seals do not pay for the refusals again.
type sealer struct {
	methods []sealMethod
	mu      sync.Mutex
	chosen  int // index+1 of the method that worked first; 0 until then
}

func (s *sealer) seal(path string) (*os.File, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := 0
	if s.chosen > 0 {
		start = s.chosen - 1
	}
	// The remembered method can still fail for reasons of the moment (out
	// of fds or memory); the ones after it are then tried as on the first
	// call, never none: the ones before it were refused by the kernel.
	var why []string
	for i := start; i < len(s.methods); i++ {
		m := s.methods[i]
		f, err := m.seal(path)
		if err == nil {
			if s.chosen == 0 {
				s.chosen = i + 1
			}
			return f, m.name, nil
		}
		why = append(why, m.name+": "+err.Error())
	}
	if len(why) == 0 {
		return nil, "", fmt.Errorf("seal the strata binary %s: no method to try", path)
	}
	return nil, "", fmt.Errorf("seal the strata binary %s: every method failed: %s", path, strings.Join(why, "; "))
}

// ---- overlay ----------------------------------------------------------

// An overlayfs with lower layers only is read-only at the superblock: a
// file opened through it can never be opened for writing, whatever the
// mount flags. The mount is made with the new mount API and never
// attached: nothing sees it, nothing can cover it, and it goes away with
// its last fd.
//
// overlayfs wants at least two lower layers when it has no upper one.
// The binary's directory cannot be given twice (the kernel refuses it:
// "conflicting lowerdir path", ELOOP), nor with its ancestor or a
// descendant ("overlapping lowerdir path"). A detached empty tmpfs would
// be the natural second layer, and works from 6.15 on, but before that
// clone_private_mount() only clones mounts in the caller's mount
// namespace (its check_mnt() test), so a detached mount given as
// /proc/self/fd/N fails with "failed to clone lowerpath" (seen on 6.12;
// lifted by "fs: allow detached mounts in clone_private_mount()").
// So the second layer is an attached directory that is always there and
// never holds the binary: /dev, or the next candidate if the binary lives
// under it. Its content does not matter: the binary's directory is the
// top layer, so the binary's name resolves there.
var fillerLayers = []string{"/dev", "/run", "/etc"}

// sealOverlayPlus gives the layers one per "lowerdir+" (Linux 6.8). It
// refuses without asking the kernel to mount when overlayfs has no
// fs_context at all (before 6.5): there fsconfig only collects options
// for one legacy mount(2) string, an unknown key fails only at create,
// and every container start would print "unrecognized mount option" to
// the kernel log.
func sealOverlayPlus(path string) (*os.File, error) {
	return sealOverlay(path, true)
}

// sealOverlayClassic gives the layers as one "lowerdir=A:B" string, which
// every kernel reads, through fs_context or the legacy mount(2) options.
func sealOverlayClassic(path string) (*os.File, error) {
	return sealOverlay(path, false)
}

func sealOverlay(path string, plus bool) (*os.File, error) {
	dir, name := filepath.Split(path)
	dir = filepath.Clean(dir)
	// The layers are given as /proc/self/fd/N of O_PATH fds: the paths
	// overlayfs parses are then digits, whatever the real ones contain,
	// and the directories are the ones opened here.
	top, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(top)
	bottom, err := openFiller(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(bottom)
	layers := []string{procSelfFD(top), procSelfFD(bottom)} // top first: it wins lookups

	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	var opts [][2]string
	if plus {
		if legacyMountAPI(fsfd) {
			return nil, errors.New("overlayfs has no fs_context on this kernel (before 6.5), so no lowerdir+")
		}
		for _, l := range layers {
			opts = append(opts, [2]string{"lowerdir+", l})
		}
	} else {
		var esc []string
		for _, l := range layers {
			esc = append(esc, escapeLowerdir(l))
		}
		opts = append(opts, [2]string{"lowerdir", strings.Join(esc, ":")})
	}
	// Layers on different filesystems would make overlayfs consider xino
	// and may say so in the kernel log on each mount; inode numbers of
	// this mount matter to nobody. Known since 4.17.
	opts = append(opts, [2]string{"xino", "off"})
	const ro = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID
	mnt, err := createMount(fsfd, "overlay", opts, ro)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s in the sealed mount: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "strata-sealed")
	if err := checkRegular(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openFiller opens the second overlay layer: the first candidate that is
// neither dir, nor above it, nor below it, and is a real directory.
func openFiller(dir string) (int, error) {
	var why []string
	for _, c := range fillerLayers {
		if overlaps(c, dir) {
			why = append(why, c+": overlaps "+dir)
			continue
		}
		fd, err := unix.Open(c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			return fd, nil
		}
		why = append(why, c+": "+err.Error())
	}
	return -1, fmt.Errorf("no directory to stack under %s (%s)", dir, strings.Join(why, ", "))
}

func overlaps(a, b string) bool {
	within := func(x, y string) bool { // x is y or below it
		return x == y || y == "/" || strings.HasPrefix(x, y+"/")
	}
	return within(a, b) || within(b, a)
}

// legacyMountAPI tells whether fsconfig on fsfd only collects options
// for a legacy mount(2) string: it then takes any key, where a
// filesystem with its own fs_context refuses an unknown one at once
// (logged in the fs context, not the kernel log) and leaves the context
// usable.
func legacyMountAPI(fsfd int) bool {
	return unix.FsconfigSetString(fsfd, "strata-probe-unknown-option", "1") == nil
}

// escapeLowerdir escapes a path for a "lowerdir=A:B" list: overlayfs
// splits the list at ':' and the legacy option string at ',', and takes
// '\' as the escape of both.
func escapeLowerdir(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`).Replace(p)
}

func procSelfFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// detachedMount creates a mount with the new mount API and returns its fd
// without attaching it anywhere: nothing sees it, nothing can cover it, and
// it goes away with its last fd.
func detachedMount(fstype string, opts [][2]string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	return createMount(fsfd, fstype, opts, attrs)
}

// createMount configures fsfd, creates the superblock and returns a
// detached mount of it.
func createMount(fsfd int, fstype string, opts [][2]string, attrs int) (int, error) {
	for _, o := range opts {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return -1, fmt.Errorf("fsconfig %s %s=%s: %w", fstype, o[0], o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig %s create (options %v): %w", fstype, opts, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return mfd, nil
}

// ---- memfd ------------------------------------------------------------

// memfdSeals make the copy immutable: no write, no size change, and no
// removal of the seals themselves.
const memfdSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// sealMemfd copies the binary into a sealed memfd, as runc has done since
// 2019. It works wherever memfds do (3.17), unless vm.memfd_noexec
// forbids executable ones. The fd returned is a read-only reopening of
// the memfd: the init never holds a writable fd of its own binary, and
// the seals hold whatever fd a process might get.
func sealMemfd(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	// MFD_EXEC (6.3) asks for an executable memfd where vm.memfd_noexec
	// would otherwise make it non-executable; older kernels refuse the
	// flag and make every memfd executable.
	fd, err := unix.MemfdCreate("strata-sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("strata-sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(fd)
	// The init may run as any user by the time it execs this again.
	if err := unix.Fchmod(fd, 0o555); err != nil {
		return nil, fmt.Errorf("fchmod memfd: %w", err)
	}
	// sendfile copies in the kernel from any file to a memfd;
	// copy_file_range refuses a copy between filesystem types since 5.19.
	for left := st.Size(); left > 0; {
		n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(min(left, 1<<30)))
		if err != nil {
			return nil, fmt.Errorf("copy %s to the memfd: %w", path, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("copy %s to the memfd: file shrank by %d bytes while copied", path, left)
		}
		left -= int64(n)
	}
	// F_SEAL_EXEC (6.3) also freezes the mode; older kernels refuse it and
	// the base seals are enough there.
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_EXEC)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, memfdSeals); err != nil {
		return nil, fmt.Errorf("seal the memfd: %w", err)
	}
	ro, err := unix.Open(procSelfFD(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen the memfd read-only: %w", err)
	}
	return os.NewFile(uintptr(ro), "strata-sealed"), nil
}

// ---- bind -------------------------------------------------------------

// sealBind returns the binary as a read-only, detached bind mount of
// itself (open_tree OPEN_TREE_CLONE, 5.2; mount_setattr, 5.12). Opening
// it for writing fails with EROFS, and the mount is in no mount table,
// so there is nothing to unmount or cover and no mount event for the
// host to process (runc's old attached bind-mount approach had both
// problems).
//
// It is the last resort because it is the weakest of the three: the
// file is the host's own inode on its writable filesystem, kept
// read-only only by the flag of this one mount. Only someone with
// CAP_SYS_ADMIN over the host's mount namespace can clone the mount and
// clear the flag (mount_setattr checks the user namespace that owns the
// mount), and such a process -- a privileged container -- can write the
// host's disk anyway. An unprivileged or user-namespaced container cannot
// lift it, which is what CVE-2019-5736 needs. Safe enough to start
// containers with, rather than none at all.
func sealBind(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), "strata-sealed")
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		f.Close()
		return nil, fmt.Errorf("mount_setattr read-only: %w", err)
	}
	if err := checkRegular(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkRegular(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("fstat the sealed binary: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("the sealed binary is not a regular file (mode %#o)", st.Mode)
	}
	return nil
}

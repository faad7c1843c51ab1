package bundle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// resolveUser turns the image's User ("name", "uid", "name:group", "uid:gid")
// into ids. Names are looked up in the image's own /etc/passwd and
// /etc/group, opened inside the rootfs so that a symlinked /etc/passwd cannot
// point at the host's. Numeric ids are taken as given.
func resolveUser(rootfs, spec string) (specs.User, error) {
	if spec == "" {
		return specs.User{}, nil // conversion.md leaves it to us: root
	}
	passwd, err := openInRoot(rootfs, "/etc/passwd")
	if err != nil {
		return specs.User{}, fmt.Errorf("image config User %q: %w", spec, err)
	}
	defer closeFile(passwd)
	group, err := openInRoot(rootfs, "/etc/group")
	if err != nil {
		return specs.User{}, fmt.Errorf("image config User %q: %w", spec, err)
	}
	defer closeFile(group)
	eu, err := user.GetExecUser(spec, &user.ExecUser{Home: "/"}, asReader(passwd), asReader(group))
	if err != nil {
		return specs.User{}, fmt.Errorf("image config User %q: %w (looked in the image's /etc/passwd and /etc/group)", spec, err)
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	name, grp, _ := strings.Cut(spec, ":")
	// conversion.md: supplementary groups only when a user is named and no group is given.
	if _, numeric := strconv.Atoi(name); numeric != nil && grp == "" {
		for _, g := range eu.Sgids {
			if uint32(g) != u.GID {
				u.AdditionalGids = append(u.AdditionalGids, uint32(g))
			}
		}
	}
	return u, nil
}

// openInRoot opens a file of the rootfs with every path component,
// symlinks included, resolved inside it. A missing file is nil, not an error.
func openInRoot(rootfs, name string) (*os.File, error) {
	dfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat2(dfd, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s in the image: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func asReader(f *os.File) io.Reader {
	if f == nil {
		return nil
	}
	return f
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// LookupIDs resolves USER[:GROUP] (names or numbers) in the rootfs's own
// /etc/passwd and /etc/group, as the image's User is: a build's
// COPY --chown reads it.
func LookupIDs(rootfs, spec string) (uid, gid int, err error) {
	u, err := resolveUser(rootfs, spec)
	if err != nil {
		return 0, 0, err
	}
	return int(u.UID), int(u.GID), nil
}

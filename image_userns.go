//go:build strata_image

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/host"
)

// A normal user's bundles are made in a user namespace of the user's own,
// as rootless podman makes its containers' storage: uid and gid 0 there are
// the user, 1 and up the user's subordinate ids (/etc/subuid, /etc/subgid,
// given through the setuid newuidmap and newgidmap of the uidmap package).
// In it, the store's files keep the images' owners (as subordinate ids on
// the host), and the overlay of a new bundle can be mounted (Linux 5.11+)
// to read the image's /etc/passwd; the mount ends with the command, and the
// container's init mounts the rootfs again in its own namespaces
// (specconv.OverlayAnnotation), which map the same ids.
//
// `strata-image bundle ...` run by a normal user re-executes itself in new
// user and mount namespaces: the child waits, the parent writes its id maps
// with the helpers, and the child then executes itself once more, because
// only a program started after the maps exist runs as root of the
// namespace with its capabilities (an execve by an unmapped uid drops them).

// usernsEnv tells the first child to wait for its id maps on fd 3.
const usernsEnv = "_STRATA_IMAGE_USERNS"

func init() {
	if rootlessImage() {
		storeFlag.Value = userStore()
	}
	if os.Getenv(usernsEnv) == "" {
		return
	}
	var b [1]byte
	f := os.NewFile(3, "userns-sync")
	if n, _ := f.Read(b[:]); n != 1 {
		os.Exit(1) // the parent failed and says why
	}
	f.Close()
	os.Unsetenv(usernsEnv)
	err := unix.Exec("/proc/self/exe", os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "strata-image: executing itself in its user namespace: %v\n", err)
	os.Exit(1)
}

// rootlessImage says whether this process keeps a user's store: not root,
// or root of a user namespace (where trusted.* xattrs are out of reach).
func rootlessImage() bool { return os.Geteuid() != 0 || host.InUserNamespace() }

// userStore is a normal user's default store, in the XDG data directory.
func userStore() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "strata")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "" // --store is then required; OpenStore names the empty path
	}
	return filepath.Join(home, ".local/share/strata")
}

// enterUserNamespace runs this command again in a user namespace of the
// caller's own, and exits with its status. Root, and a process already in a
// user namespace, go on as they are.
func enterUserNamespace() error {
	if os.Geteuid() == 0 || host.InUserNamespace() {
		return nil
	}
	uids, gids, err := ownIDMaps()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), usernsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, Pdeathsig: unix.SIGKILL}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("a user namespace for the user's store: %w", err)
	}
	// The child's signals come from the terminal too; these are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	if err := writeMaps(cmd.Process.Pid, uids, gids); err != nil {
		w.Close()
		cmd.Wait()
		return err
	}
	w.Write([]byte{0})
	w.Close()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

// idRange is one line of /etc/subuid or /etc/subgid.
type idRange struct{ start, count int }

// ownIDMaps is the caller's id and first subordinate range, uid and gid.
func ownIDMaps() (uids, gids []string, err error) {
	u, err := user.Current()
	if err != nil {
		return nil, nil, fmt.Errorf("who is running strata-image: %w", err)
	}
	su, err := subordinateRange("/etc/subuid", u.Username, u.Uid)
	if err != nil {
		return nil, nil, err
	}
	sg, err := subordinateRange("/etc/subgid", u.Username, u.Uid)
	if err != nil {
		return nil, nil, err
	}
	gid := strconv.Itoa(os.Getegid())
	uid := strconv.Itoa(os.Geteuid())
	return []string{"0", uid, "1", "1", strconv.Itoa(su.start), strconv.Itoa(su.count)},
		[]string{"0", gid, "1", "1", strconv.Itoa(sg.start), strconv.Itoa(sg.count)}, nil
}

// subordinateRange is the first range of file for the user (by name or
// uid, as shadow's tools accept either).
func subordinateRange(file, name, uid string) (idRange, error) {
	f, err := os.Open(file)
	if err != nil {
		return idRange{}, fmt.Errorf("a normal user's store needs subordinate ids: %w (usermod --add-subuids/--add-subgids gives %s some)", err, name)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || (parts[0] != name && parts[0] != uid) {
			continue
		}
		start, err1 := strconv.Atoi(parts[1])
		count, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || count < 1 {
			return idRange{}, fmt.Errorf("%s: line %q: expected NAME:START:COUNT", file, sc.Text())
		}
		return idRange{start, count}, nil
	}
	if err := sc.Err(); err != nil {
		return idRange{}, fmt.Errorf("%s: %w", file, err)
	}
	return idRange{}, fmt.Errorf("%s has no range for %s: a normal user's store keeps the images' file owners as the user's subordinate ids (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", file, name, name)
}

// writeMaps gives the child's user namespace its maps through the helpers,
// which check them against /etc/subuid and /etc/subgid.
func writeMaps(pid int, uids, gids []string) error {
	for _, m := range []struct {
		helper string
		args   []string
	}{{"newuidmap", uids}, {"newgidmap", gids}} {
		path, err := exec.LookPath(m.helper)
		if err != nil {
			return fmt.Errorf("a normal user's store needs %s (the uidmap package): %w", m.helper, err)
		}
		args := append([]string{strconv.Itoa(pid)}, m.args...)
		if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w: %s", m.helper, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

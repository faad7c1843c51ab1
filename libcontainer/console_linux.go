package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupConsole gives the process a terminal (process.terminal: true). It
// runs inside the container's mount namespace, after pivot_root or after
// exec joined it, so the pty comes from the container's own devpts and
// the process sees a /dev/pts/N of its own. The master goes to whoever
// listens on the console socket, as runc sends it: SCM_RIGHTS, with the
// pty's name as the payload. The slave becomes stdio and the controlling
// terminal. It returns the slave's fd for bindConsole.
func setupConsole(socket int, size *specs.Box) (*os.File, error) {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("process.terminal: open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	// TIOCGPTN also proves the container's /dev/ptmx is a pty master.
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		return nil, fmt.Errorf("process.terminal: /dev/ptmx is not a pty multiplexer: %w", err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("process.terminal: unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the slave from the master: no path lookup that
	// the container could redirect.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return nil, fmt.Errorf("process.terminal: open pty slave: %w", errno)
	}
	sfd := int(r)
	slave := os.NewFile(uintptr(sfd), "/dev/pts/"+strconv.Itoa(int(n)))
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(sfd, unix.TIOCSWINSZ, ws); err != nil {
			slave.Close()
			return nil, fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	name := []byte(slave.Name())
	if err := unix.Sendmsg(socket, name, unix.UnixRights(master), nil, 0); err != nil {
		slave.Close()
		return nil, fmt.Errorf("--console-socket: send the pty master: %w", err)
	}
	unix.Close(socket)
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(sfd, fd, 0); err != nil {
			slave.Close()
			return nil, fmt.Errorf("process.terminal: pty as stdio: %w", err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		slave.Close()
		return nil, fmt.Errorf("process.terminal: make the pty the controlling terminal: %w", err)
	}
	return slave, nil
}

// bindConsole binds the container's pty over /dev/console, as runc does
// for a container with a terminal. The target must be absent or a regular
// file: were it a symlink the container planted, the bind would land where
// it points (CVE-2025-52565). Everything goes through fds.
func bindConsole(slave *os.File) error {
	target, err := unix.Open("/dev/console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		target, err = unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	}
	if err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	defer unix.Close(target)
	var st unix.Stat_t
	if err := unix.Fstat(target, &st); err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("/dev/console: refusing to bind the console over a %s (expected a regular file or nothing)", fileKind(st.Mode))
	}
	tree, err := unix.OpenTree(int(slave.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("/dev/console: clone the pty mount: %w", err)
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("/dev/console: bind the pty: %w", err)
	}
	return nil
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "special file"
}

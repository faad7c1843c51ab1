package host

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Pidfd opens a pidfd for this process with pidfd_open (Linux 5.3).
func Pidfd() Result {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fromErr("pidfd_open", err)
	}
	unix.Close(fd)
	return ok("")
}

// Clone3 tells whether clone3 (Linux 5.3) exists, without cloning: an
// argument size of 0 is refused with EINVAL before anything is read,
// where a kernel without clone3 (or a filter hiding it) says ENOSYS.
func Clone3() Result {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	if errno == unix.EINVAL {
		return ok("")
	}
	return fromErr("clone3", errno)
}

// CloneIntoCgroup tells whether a process could be started straight into
// its cgroup with clone3(CLONE_INTO_CGROUP) (Linux 5.7): it needs clone3
// and a writable cgroup2 hierarchy. The flag itself is not tried: that
// would take a real clone.
func CloneIntoCgroup(clone3 Result, c Cgroups) Result {
	switch {
	case !clone3.OK:
		return absent("no clone3: %s", clone3.Reason)
	case !c.HasV2():
		return absent("no cgroup2 hierarchy mounted")
	case !c.V2Writable:
		return absent("the cgroup2 hierarchy at %s is not writable", c.V2Root)
	}
	return ok("clone3 present, cgroup2 at " + c.V2Root)
}

// Seccomp tells whether seccomp filters can be loaded: the kernel has
// CONFIG_SECCOMP_FILTER exactly when SECCOMP_SET_MODE_FILTER with a null
// program fails with EFAULT (it got as far as reading it).
func Seccomp() Result {
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return fromErr("prctl(PR_GET_SECCOMP)", err)
	}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, 0)
	if errno != unix.EFAULT {
		return fromErr("seccomp(SECCOMP_SET_MODE_FILTER)", errno)
	}
	return ok("")
}

// SeccompNotify tells whether the kernel has user notification (Linux
// 5.0): SECCOMP_GET_NOTIF_SIZES answers, and actions_avail lists
// user_notif when it is readable.
func SeccompNotify() Result {
	var sizes struct{ notif, resp, data uint16 }
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_NOTIF_SIZES, 0, uintptr(unsafe.Pointer(&sizes)))
	if errno != 0 {
		return fromErr("seccomp(SECCOMP_GET_NOTIF_SIZES)", errno)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail"); err == nil &&
		!strings.Contains(" "+strings.TrimSpace(string(data))+" ", " user_notif ") {
		return absent("/proc/sys/kernel/seccomp/actions_avail lacks user_notif: %s", strings.TrimSpace(string(data)))
	}
	return ok(fmt.Sprintf("notif %d bytes, resp %d, data %d", sizes.notif, sizes.resp, sizes.data))
}

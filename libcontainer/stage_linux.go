package libcontainer

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/plan"
)

// execStage hands the container's init over to the exec stage
// (nsenter/stage.c): strata executed again from its sealed copy, running only
// C, which carries out the process plan and executes the program. The plan
// goes in a memfd; keep are the fds the plan names, which must survive this
// execve (Go opened them close-on-exec; the plan's close-from step marks them
// so again). It returns only on failure.
func execStage(sync, exe int, pl *plan.Plan, keep ...int) error {
	fd, err := unix.MemfdCreate("strata-plan", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("exec stage: memfd_create: %w", err)
	}
	if _, err := unix.Write(fd, pl.Encode()); err != nil {
		return fmt.Errorf("exec stage: write the plan: %w", err)
	}
	for _, f := range append(keep, sync, fd) {
		if f < 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(f), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("exec stage: fcntl fd %d: %w", f, err)
		}
	}
	argv, err := syscall.SlicePtrFromStrings([]string{"strata", "init"})
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings([]string{fmt.Sprintf("_STRATA_EXEC=%d,%d", sync, fd)})
	if err != nil {
		return err
	}
	empty, _ := syscall.BytePtrFromString("")
	// execveat on the sealed binary's fd: no path, so nothing in the
	// container's filesystem can stand in for it.
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(exe), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("exec stage: execveat strata: %w", errno)
}

// savedNofile is the soft RLIMIT_NOFILE strata was started with, which
// nsenter saved before Go raised it; nil if it did not.
func savedNofile() *uint64 {
	cur, err := strconv.ParseUint(os.Getenv("_STRATA_NOFILE"), 10, 64)
	if err != nil {
		return nil
	}
	return &cur
}

// setgroupsAllowed: in a user namespace whose setgroups file says "deny"
// (one made by an unprivileged user, or joined), setgroups(2) fails.
func (p *procfs) setgroupsAllowed() bool {
	b, err := p.read(strconv.Itoa(os.Getpid()) + "/setgroups")
	return err != nil || strings.TrimSpace(string(b)) != "deny"
}

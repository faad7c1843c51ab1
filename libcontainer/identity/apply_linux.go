package identity

import (
	"fmt"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultUmask is what runc gives a process whose spec sets none.
const defaultUmask = 0o022

// Apply sets the umask, the supplementary groups, the gid and the uid of the
// calling process, in that order: each id change needs the privilege the next
// one drops.
//
// The id changes reach every thread of the process: x/sys's unix.Setresuid and
// unix.Setresgid forward to the syscall package, which uses the runtime's
// AllThreadsSyscall (or libc's setxid broadcast when cgo is linked). That is not
// true of unix.Setgroups, a raw per-thread syscall, so groups go through
// syscall.Setgroups. A thread left with the init's ids could otherwise run Go
// code as root after the change.
//
// Capabilities, on the other hand, are per thread: Apply sets PR_SET_KEEPCAPS on
// the calling thread so its permitted set survives the change to a non-root uid
// for capabilities.Caps.ApplyCaps. The caller must therefore hold the OS thread
// (runtime.LockOSThread) from here to execve. execve resets the flag.
//
// setgroupsAllowed is false in a user namespace whose /proc/<pid>/setgroups is
// "deny": setgroups(2) fails there with EPERM, so additionalGids are ignored and
// the groups stay as the namespace gave them.
func Apply(u specs.User, setgroupsAllowed bool) error {
	umask := uint32(defaultUmask)
	if u.Umask != nil {
		umask = *u.Umask
	}
	if umask > 0o777 {
		return fmt.Errorf("process.user.umask %#o: not a permission mask (expected at most 0777)", umask)
	}
	unix.Umask(int(umask))

	if setgroupsAllowed {
		gids := make([]int, len(u.AdditionalGids))
		for i, g := range u.AdditionalGids {
			gids[i] = int(g)
		}
		// Called even with no gids, to drop the groups the init inherited.
		if err := syscall.Setgroups(gids); err != nil {
			return fmt.Errorf("process.user.additionalGids %s: setgroups: %w", formatIDs(u.AdditionalGids), err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("process.user: prctl(PR_SET_KEEPCAPS): %w", err)
	}
	gid, uid := int(u.GID), int(u.UID)
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("process.user.gid %d: setresgid: %w", u.GID, err)
	}
	if err := unix.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("process.user.uid %d: setresuid: %w", u.UID, err)
	}
	return nil
}

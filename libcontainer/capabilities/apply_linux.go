package capabilities

import (
	"errors"
	"fmt"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// ApplyBounding drops from the bounding set every capability not listed in
// process.capabilities.bounding. It must run while the init still holds
// CAP_SETPCAP, that is before the user change. Capabilities already absent
// (the host's own bounding set may lack some, such as CAP_SYS_RESOURCE) are
// left alone.
func (c *Caps) ApplyBounding() error {
	for n := capability.Cap(0); n <= c.last; n++ {
		if c.bounding&(1<<uint(n)) != 0 {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("capabilities: read %s from the bounding set: %w", Name(n), err)
		}
		if in == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("capabilities: drop %s from the bounding set: %w (needs CAP_SETPCAP)", Name(n), err)
			}
			return fmt.Errorf("capabilities: drop %s from the bounding set: %w", Name(n), err)
		}
	}
	return nil
}

// ApplyCaps sets the effective, permitted and inheritable sets, then the
// ambient set (ambient capabilities can only be raised once they are both
// permitted and inheritable).
//
// It runs after the user change. For a non-root user the caller must have set
// PR_SET_KEEPCAPS on this thread before setresuid (identity.Apply does), or the
// kernel has already emptied the permitted set and nothing can be restored.
// The effective set is empty at that point too (euid left 0), which is why the
// permitted set is first made effective: with CAP_SETPCAP effective, the final
// capset may also grant inheritable capabilities not in the permitted set.
//
// Inheritable capabilities are only ever what the spec lists: granting more
// would let unprivileged programs in the container gain them through file
// capabilities on exec (CVE-2022-29162).
//
// An ambient capability that cannot be raised (typically missing from the
// inheritable set) is reported through Notes rather than failing, as runc
// does, because configs written before that CVE often list ambient
// capabilities without inheritable ones.
func (c *Caps) ApplyCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("capabilities: capget: %w", err)
	}
	held := uint64(cur[0].Permitted) | uint64(cur[1].Permitted)<<32
	if missing := (c.permitted | c.effective) &^ held; missing != 0 {
		return fmt.Errorf("process.capabilities.permitted: %s not held by the runtime, cannot be granted", names(missing))
	}
	if c.effective&^c.permitted != 0 {
		return fmt.Errorf("process.capabilities.effective: %s not in the permitted set", names(c.effective&^c.permitted))
	}

	raise := cur
	raise[0].Effective, raise[1].Effective = cur[0].Permitted, cur[1].Permitted
	if err := unix.Capset(&hdr, &raise[0]); err != nil {
		return fmt.Errorf("capabilities: make the permitted set effective: %w", err)
	}
	want := [2]unix.CapUserData{
		{Effective: uint32(c.effective), Permitted: uint32(c.permitted), Inheritable: uint32(c.inheritable)},
		{Effective: uint32(c.effective >> 32), Permitted: uint32(c.permitted >> 32), Inheritable: uint32(c.inheritable >> 32)},
	}
	if err := unix.Capset(&hdr, &want[0]); err != nil {
		return fmt.Errorf("capabilities: set effective, permitted and inheritable: %w", err)
	}

	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("capabilities: clear the ambient set: %w", err)
	}
	for n := capability.Cap(0); n <= c.last; n++ {
		if c.ambient&(1<<uint(n)) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil {
			c.notes = append(c.notes, fmt.Sprintf(
				"process.capabilities.ambient: cannot raise %s: %v (it must be both permitted and inheritable)", Name(n), err))
		}
	}
	return nil
}

package libcontainer

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/specconv"
)

// nsFlags maps the spec's namespace types to clone(2) flags.
var nsFlags = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// joinOrder: the user namespace first, so that joining the others is
// checked against the capabilities it grants; mount last, so that paths
// are no longer needed once it changes (nsenter opens them all first anyway).
var joinOrder = []specs.LinuxNamespaceType{
	specs.UserNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.NetworkNamespace,
	specs.PIDNamespace, specs.CgroupNamespace, specs.TimeNamespace, specs.MountNamespace,
}

// hasNamespace says whether the spec puts the container in a namespace of
// this type (new or joined).
func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	_, ok := specconv.FindNamespace(s, t)
	return ok
}

// HasOwnUserNamespace says whether the spec gives the container a new user
// namespace (not one joined by path): what a rootless container needs.
func HasOwnUserNamespace(s *specs.Spec) bool { return hasOwnNamespace(s, specs.UserNamespace) }

// hasOwnNamespace says whether the spec gives the container a new
// namespace of this type (not a joined one).
func hasOwnNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	ns, ok := specconv.FindNamespace(s, t)
	return ok && ns.Path == ""
}

// bootstrapMessage is the payload nsenter.c reads: the namespaces to create
// and the ones to join, as NUL-terminated records.
func bootstrapMessage(s *specs.Spec) (payload []byte, newUserNS bool) {
	var b strings.Builder
	clone := 0
	byType := map[specs.LinuxNamespaceType]string{}
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if ns.Path == "" {
				// A new cgroup namespace is rooted at the cgroup of the
				// process that unshares it: the Go init makes it once it
				// is in the container's cgroups (msgPlaced).
				if ns.Type != specs.CgroupNamespace {
					clone |= nsFlags[ns.Type]
				}
			} else {
				byType[ns.Type] = ns.Path
			}
		}
	}
	fmt.Fprintf(&b, "clone=%d\x00", clone)
	for _, t := range joinOrder {
		if p, ok := byType[t]; ok {
			fmt.Fprintf(&b, "join=%d:%s\x00", nsFlags[t], p)
		}
	}
	if s.Linux != nil && len(s.Linux.TimeOffsets) > 0 {
		var off strings.Builder
		for clock, o := range s.Linux.TimeOffsets {
			fmt.Fprintf(&off, "%s %d %d\n", clock, o.Secs, o.Nanosecs)
		}
		fmt.Fprintf(&b, "timens=%s\x00", off.String())
	}
	return []byte(b.String()), clone&unix.CLONE_NEWUSER != 0
}

// writeIDMaps gives the new user namespace of pid its uid and gid maps.
// Only a process outside the namespace may write them, hence the parent.
// An unprivileged parent may write only its own uid and gid, one each, and
// the gid map only once setgroups is denied (user_namespaces(7)); any other
// map needs the setuid helpers newuidmap and newgidmap (the uidmap
// package), which check it against /etc/subuid and /etc/subgid, as runc
// and podman use them.
func writeIDMaps(pid int, s *specs.Spec) error {
	uids, gids := s.Linux.UIDMappings, s.Linux.GIDMappings
	if os.Geteuid() == 0 {
		if err := writeIDMap(pid, "uid_map", "linux.uidMappings", uids); err != nil {
			return err
		}
		return writeIDMap(pid, "gid_map", "linux.gidMappings", gids)
	}
	if ownID(uids, os.Geteuid()) {
		if err := writeIDMap(pid, "uid_map", "linux.uidMappings", uids); err != nil {
			return err
		}
	} else if err := idMapHelper("newuidmap", pid, "linux.uidMappings", uids); err != nil {
		return err
	}
	if ownID(gids, os.Getegid()) {
		p := "/proc/" + strconv.Itoa(pid) + "/setgroups"
		if err := os.WriteFile(p, []byte("deny"), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: write deny to %s (needed before an unprivileged gid_map): %w", p, err)
		}
		return writeIDMap(pid, "gid_map", "linux.gidMappings", gids)
	}
	return idMapHelper("newgidmap", pid, "linux.gidMappings", gids)
}

// ownID: the map is the single id an unprivileged process may map itself.
func ownID(maps []specs.LinuxIDMapping, id int) bool {
	return len(maps) == 1 && maps[0].HostID == uint32(id) && maps[0].Size == 1
}

func writeIDMap(pid int, file, field string, maps []specs.LinuxIDMapping) error {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	p := "/proc/" + strconv.Itoa(pid) + "/" + file
	if err := os.WriteFile(p, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("%s: write %s: %w", field, p, err)
	}
	return nil
}

// idMapHelper runs newuidmap or newgidmap for pid with the maps.
func idMapHelper(helper string, pid int, field string, maps []specs.LinuxIDMapping) error {
	path, err := exec.LookPath(helper)
	if err != nil {
		return fmt.Errorf("%s: an unprivileged user may map only its own id; other maps need %s (the uidmap package): %w", field, helper, err)
	}
	args := []string{strconv.Itoa(pid)}
	for _, m := range maps {
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w: %s", field, helper, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

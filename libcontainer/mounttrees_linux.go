package libcontainer

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/host"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// sendMountTrees makes, in the parent, the idmapped bind mounts of a
// container in a user namespace (its own or a joined one), and sends each
// to the init ('F', before 'C') to attach where the spec puts it. The init
// cannot make them: mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over
// the filesystem's user namespace (the host's), and the init's capabilities
// are its own namespace's. An "idmap" mount without mappings of its own
// takes the container's user namespace, open by now as /proc/PID/ns/user.
//
// The mounts are parentTrees's. The init is in the container's user
// namespace by then: nsenter's 'P' came before.
func sendMountTrees(p *InitProcess, s *specs.Spec, bundle string, indexes []int) error {
	var userns *os.File
	defer func() {
		if userns != nil {
			userns.Close()
		}
	}()
	for _, i := range indexes {
		m := s.Mounts[i]
		if userns == nil {
			var err error
			if userns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", p.Pid)); err != nil {
				return fmt.Errorf("open the container's user namespace: %w", err)
			}
		}
		tree, err := rootfs.BindTree(bundle, m, userns)
		if err != nil {
			return fmt.Errorf("mounts[%d]: destination %q: %w", i, m.Destination, err)
		}
		err = p.sync.sendFD(msgMountTree, int(tree.Fd()), []byte(strconv.Itoa(i)))
		tree.Close()
		if err != nil {
			return p.failed(fmt.Errorf("send mounts[%d] to the init: %w", i, err))
		}
	}
	return nil
}

// parentTrees lists, by index, the mounts the parent makes for a container
// with a user namespace: the idmapped bind mounts and, where strata is
// root on the host, every bind mount: the init is root only in the
// container's namespace and may not reach a source below a directory only
// the host's root may enter (a CRI sandbox's shm and resolv.conf are under
// containerd's 0700 state directories); runc opens such sources outside
// the namespace too.
func parentTrees(s *specs.Spec) []int {
	if !hasNamespace(s, specs.UserNamespace) {
		return nil
	}
	everyBind := os.Geteuid() == 0 && !host.InUserNamespace()
	var out []int
	for i, m := range s.Mounts {
		if rootfs.NeedsParentTree(m) || (everyBind && rootfs.IsBind(m)) {
			out = append(out, i)
		}
	}
	return out
}

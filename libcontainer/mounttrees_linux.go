package libcontainer

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// sendMountTrees makes, in the parent, the idmapped bind mounts of a
// container with its own user namespace, and sends each to the init ('F',
// before 'C') to attach where the spec puts it. The init cannot make them:
// mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over the filesystem's
// user namespace (the host's), and the init's capabilities are its own
// namespace's. An "idmap" mount without mappings of its own takes the
// container's user namespace, open by now as /proc/PID/ns/user.
func sendMountTrees(p *InitProcess, s *specs.Spec, bundle string) error {
	var userns *os.File
	defer func() {
		if userns != nil {
			userns.Close()
		}
	}()
	for i, m := range s.Mounts {
		if !rootfs.NeedsParentTree(m) {
			continue
		}
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

package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/specconv"
)

// A rootless bundle is made by a normal user, in the user namespace that
// strata-image enters for the bundle commands (image_userns.go): the
// store's files are owned by the user's subordinate ids, its marks are
// user.* xattrs, and the overlay is mounted with userxattr. Its mount
// lasts only as long as the command, so the container's init mounts the
// rootfs again (specconv.OverlayAnnotation) in a user namespace with the
// same maps, which config.json gives it.

// ownIDMaps reads this process's user namespace maps, which a rootless
// bundle's container gets as its own.
func ownIDMaps() (uids, gids []specs.LinuxIDMapping, err error) {
	if uids, err = readIDMap("/proc/self/uid_map"); err != nil {
		return nil, nil, err
	}
	if gids, err = readIDMap("/proc/self/gid_map"); err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

func readIDMap(file string) ([]specs.LinuxIDMapping, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var maps []specs.LinuxIDMapping
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: line %q: expected three numbers", file, line)
		}
		var n [3]uint32
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: line %q: %w", file, line, err)
			}
			n[i] = uint32(v)
		}
		maps = append(maps, specs.LinuxIDMapping{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return maps, nil
}

// annotateOverlay has the runtime mount the bundle's overlay.
func annotateOverlay(s *specs.Spec, lowers []string, upper, work string) error {
	v, err := json.Marshal(specconv.Overlay{Lowerdirs: lowers, Upperdir: upper, Workdir: work})
	if err != nil {
		return err
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[specconv.OverlayAnnotation] = string(v)
	return nil
}

package bundle

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ParseIDMaps parses --uidmap or --gidmap values, CONTAINER:HOST:SIZE each
// (podman's and buildah's spelling), as linux.uidMappings/gidMappings. flag
// names the option in errors.
func ParseIDMaps(flag string, values []string) ([]specs.LinuxIDMapping, error) {
	var out []specs.LinuxIDMapping
	for _, v := range values {
		parts := strings.Split(v, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("--%s %q: expected CONTAINER:HOST:SIZE", flag, v)
		}
		var n [3]uint32
		for i, p := range parts {
			u, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--%s %q: %q is not an id or size (0 to 4294967295)", flag, v, p)
			}
			n[i] = uint32(u)
		}
		if n[2] == 0 {
			return nil, fmt.Errorf("--%s %q: SIZE must be at least 1", flag, v)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return out, nil
}

// checkIDMaps refuses maps a bundle cannot use: its root (container id 0)
// must be mapped, since the rootfs and upper directory belong to it, and
// ranges may not overlap on either side, which the kernel refuses later
// with only "invalid argument".
func checkIDMaps(flag string, m []specs.LinuxIDMapping) error {
	if _, ok := hostID(m, 0); !ok {
		return fmt.Errorf("--%s: no range maps container id 0, the bundle's root (e.g. --%s 0:100000:65536)", flag, flag)
	}
	for i, a := range m {
		if uint64(a.ContainerID)+uint64(a.Size) > 1<<32 || uint64(a.HostID)+uint64(a.Size) > 1<<32 {
			return fmt.Errorf("--%s %d:%d:%d: the range runs past id 4294967295", flag, a.ContainerID, a.HostID, a.Size)
		}
		for _, b := range m[:i] {
			if overlap(a.ContainerID, b.ContainerID, a.Size, b.Size) || overlap(a.HostID, b.HostID, a.Size, b.Size) {
				return fmt.Errorf("--%s %d:%d:%d overlaps %d:%d:%d", flag, a.ContainerID, a.HostID, a.Size, b.ContainerID, b.HostID, b.Size)
			}
		}
	}
	return nil
}

func overlap(a, b, asize, bsize uint32) bool {
	return uint64(a) < uint64(b)+uint64(bsize) && uint64(b) < uint64(a)+uint64(asize)
}

// hostID is the host id a container id maps to.
func hostID(m []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, e := range m {
		if id >= e.ContainerID && uint64(id) < uint64(e.ContainerID)+uint64(e.Size) {
			return e.HostID + (id - e.ContainerID), true
		}
	}
	return 0, false
}

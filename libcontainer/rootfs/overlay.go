package rootfs

import (
	"fmt"

	"github.com/strata-runtime/strata/libcontainer/overlay"
	"github.com/strata-runtime/strata/libcontainer/specconv"
)

// mountOverlayRoot mounts the overlay that specconv.OverlayAnnotation
// names on the rootfs, which is then a mount point of its own, as the bind
// of the rootfs onto itself makes it otherwise.
func mountOverlayRoot(c *Config, o *specconv.Overlay) error {
	if err := overlay.Mount(c.Rootfs, o.Lowerdirs, o.Upperdir, o.Workdir, overlay.Options{UserXattr: true}); err != nil {
		return fmt.Errorf("annotations[%q]: %w", specconv.OverlayAnnotation, err)
	}
	return nil
}

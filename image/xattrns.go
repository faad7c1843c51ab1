package image

import (
	"strings"
	"sync"

	"github.com/strata-runtime/strata/libcontainer/host"
)

// The store marks what overlayfs and strata read back (opaque directories,
// layers with a root entry) with xattrs. On the host they are trusted.*
// ones, which only root sets or reads. In a user namespace other than the
// host's, as a rootless store is unpacked (see the bundle command's user
// namespace), trusted.* needs CAP_SYS_ADMIN in the host's namespace and is
// out of reach, so the same marks are user.* xattrs there, the kind an
// overlay mounted with userxattr reads (overlayfs(5), "User xattr").
// A store is used from one side only: root's on the host, a user's in that
// user's namespace.

// markNS is the xattr namespace of this process's marks: "trusted." or "user.".
var markNS = sync.OnceValue(func() string {
	if host.InUserNamespace() {
		return "user."
	}
	return "trusted."
})

func overlayOpaqueXattr() string { return markNS() + "overlay.opaque" }

func rootEntryXattr() string { return markNS() + "strata.root-entry" }

// reservedXattr: overlayfs's and strata's xattrs in either namespace, which
// a layer may not carry in or out. Set by a layer, user.overlay.redirect or
// trusted.overlay.opaque could change lookups in the composed rootfs.
func reservedXattr(name string) bool {
	for _, ns := range []string{"trusted.", "user."} {
		if rest, ok := strings.CutPrefix(name, ns); ok && (strings.HasPrefix(rest, "overlay.") || strings.HasPrefix(rest, "strata.")) {
			return true
		}
	}
	return false
}

package image

import (
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/ocispec"
)

// A layer's tar may have an entry for its root ("./") setting the owner, mode
// and times of the image's "/". In a store layer they land on the layer
// directory, but overlayfs shows a merged root with the upper directory's
// metadata, never a lower's: the bundle has to copy them onto its upper. A
// layer without such an entry says nothing about "/" (in a flattened unpack
// "/" keeps what the layers below set), so the store marks the layers that
// had one, and the bundle takes the topmost marked layer's root.

// rootEntryXattr() marks a store layer directory whose tar had a root
// entry. A trusted.* xattr on the host, as overlayfs's own (xattrns.go):
// only root sets or reads it, and a merged directory never shows a lower's
// xattrs, so containers do not see it. Layers cannot carry it in
// (reservedXattr): what it means in the store comes only from strata.

// markRootEntry records on the layer directory that its tar set the root.
func (a *applier) markRootEntry() error {
	if a.mode != OverlayWhiteouts {
		return nil // a flattened rootfs took the entry's metadata itself
	}
	return unix.Fsetxattr(a.rootFd, rootEntryXattr(), []byte("y"), 0)
}

// HasRootEntry reports whether the unpacked layer d had an entry for its
// root, whose metadata its directory then carries.
func (s *Store) HasRootEntry(d ocispec.Digest) bool {
	_, err := unix.Lgetxattr(s.LayerDir(d), rootEntryXattr(), nil)
	return err == nil
}

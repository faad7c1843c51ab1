package image

import (
	"archive/tar"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRootEntryMark: a store layer whose tar has a "./" entry (or "/", as
// umoci insert writes it) is marked (and its directory carries the entry's
// metadata); one without is not; and a layer cannot set strata's own
// xattrs, on its root or elsewhere.
func TestRootEntryMark(t *testing.T) {
	requireRoot(t)
	for test, name := range map[string]string{"dot-slash": "./", "slash": "/"} {
		t.Run(test, func(t *testing.T) { testRootEntryMark(t, name) })
	}
}

func testRootEntryMark(t *testing.T, rootName string) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fake := map[string]string{rootEntryXattr(): "y"}
	with, withBlob := testLayer(t, E{Name: rootName, Type: tar.TypeDir, Mode: 0o750, UID: 7}, E{Name: "f", Body: "f", Xattrs: fake})
	without, withoutBlob := testLayer(t, E{Name: "g", Body: "g", Xattrs: fake})
	for _, l := range []struct {
		layer Layer
		blob  []byte
	}{{with, withBlob}, {without, withoutBlob}} {
		if _, err := s.EnsureLayer(l.layer, opener(l.blob)); err != nil {
			t.Fatal(err)
		}
	}
	if !s.HasRootEntry(with.DiffID) || s.HasRootEntry(without.DiffID) {
		t.Fatalf("HasRootEntry: %v for the layer with a root entry, %v for the one without", s.HasRootEntry(with.DiffID), s.HasRootEntry(without.DiffID))
	}
	var st unix.Stat_t
	if err := unix.Stat(s.LayerDir(with.DiffID), &st); err != nil || st.Mode&0o7777 != 0o750 || st.Uid != 7 {
		t.Fatalf("layer root %o uid %d (%v), want the entry's 0750 uid 7", st.Mode&0o7777, st.Uid, err)
	}
	for _, p := range []string{s.LayerDir(with.DiffID) + "/f", s.LayerDir(without.DiffID) + "/g"} {
		if _, err := unix.Lgetxattr(p, rootEntryXattr(), nil); err == nil {
			t.Errorf("%s kept the layer's %s xattr", p, rootEntryXattr())
		}
	}
}

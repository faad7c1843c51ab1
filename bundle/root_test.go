package bundle

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
)

// TestRootEntry: the bundle's "/" has the owner, mode and mtime of the
// topmost layer's "./" entry (a layer without one leaves it as the layers
// below set it), as umoci unpacks it; with no "./" entry at all it is 0755
// root:root with the bundle's time.
func TestRootEntry(t *testing.T) {
	requireRoot(t)
	t1 := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	t2 := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	withRoot := imagetest.Tar(t, imagetest.Entry{Name: "./", Type: '5', Mode: 0o750, UID: 1000, GID: 1000, ModTime: t1}, imagetest.Entry{Name: "a", Body: "a"})
	noRoot := imagetest.Tar(t, imagetest.Entry{Name: "b", Body: "b"})
	otherRoot := imagetest.Tar(t, imagetest.Entry{Name: "./", Type: '5', Mode: 0o711, UID: 2000, GID: 2001, ModTime: t2})
	store := t.TempDir()
	for _, tc := range []struct {
		name     string
		layers   [][]byte
		mode     uint32
		uid, gid uint32
		mtime    time.Time // zero: the bundle's time
	}{
		{"a lower layer's root entry", [][]byte{imagetest.Busybox(t), withRoot, noRoot}, 0o750, 1000, 1000, t1},
		{"the topmost root entry wins", [][]byte{imagetest.Busybox(t), withRoot, otherRoot}, 0o711, 2000, 2001, t2},
		{"no root entry", [][]byte{imagetest.Busybox(t), noRoot}, 0o755, 0, 0, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layout := filepath.Join(t.TempDir(), "layout")
			imagetest.WriteLayout(t, layout, "v1", imagetest.Image{Layers: tc.layers, Config: v1.ImageConfig{Cmd: []string{"/bin/sh"}}})
			umoci := filepath.Join(t.TempDir(), "umoci")
			if out, err := exec.Command("umoci", "unpack", "--image", layout+":v1", umoci).CombinedOutput(); err != nil {
				t.Fatalf("umoci unpack: %v\n%s", err, out)
			}
			for _, copyMode := range []bool{false, true} {
				start := time.Now().Add(-time.Second)
				b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store, Copy: copyMode})
				root := filepath.Join(b, rootfsDir)
				var st unix.Stat_t
				if err := unix.Stat(root, &st); err != nil {
					t.Fatal(err)
				}
				if st.Mode&0o7777 != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid {
					t.Errorf("copy=%v: / is %o %d:%d, want %o %d:%d", copyMode, st.Mode&0o7777, st.Uid, st.Gid, tc.mode, tc.uid, tc.gid)
				}
				// A flattened unpack writes later layers' files into "/" after its
				// entry, which moves its mtime: only the overlay keeps it.
				if mtime := time.Unix(st.Mtim.Unix()); !copyMode && (!tc.mtime.IsZero() && !mtime.Equal(tc.mtime) || tc.mtime.IsZero() && mtime.Before(start)) {
					t.Errorf("/ has mtime %v, want %v (zero: the bundle's time, after %v)", mtime, tc.mtime, start)
				}
				imagetest.CompareTrees(t, filepath.Join(umoci, "rootfs"), root)
				if err := Remove(b); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

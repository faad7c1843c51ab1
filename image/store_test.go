package image

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/strata-runtime/strata/image/imagetest"
	"github.com/strata-runtime/strata/image/ocispec"
)

// testLayer is a gzip layer blob held in memory.
func testLayer(t *testing.T, entries ...E) (Layer, []byte) {
	t.Helper()
	raw := imagetest.Tar(t, entries...)
	mt, blob := imagetest.Compress(t, raw, "gzip")
	return Layer{Blob: ocispec.Descriptor{MediaType: mt, Digest: ocispec.FromBytes(blob), Size: int64(len(blob))}, DiffID: ocispec.FromBytes(raw)}, blob
}

func opener(blob []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(blob))), nil }
}

// TestEnsureLayerOnce: concurrent callers unpack a layer exactly once.
func TestEnsureLayerOnce(t *testing.T) {
	requireRoot(t)
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, blob := testLayer(t, E{Name: "a", Body: "a"}, E{Name: "d/", Type: tar.TypeDir}, E{Name: "d/b", Body: "b"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	unpacks := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pin, err := s.EnsureLayer(l, opener(blob))
			if err != nil {
				t.Error(err)
				return
			}
			if pin.Unpacked {
				mu.Lock()
				unpacks++
				mu.Unlock()
			}
			pin.Release()
		}()
	}
	wg.Wait()
	if unpacks != 1 {
		t.Fatalf("layer unpacked %d times, want 1", unpacks)
	}
	if got := readFile(t, filepath.Join(s.LayerDir(l.DiffID), "d/b")); got != "b" {
		t.Fatalf("d/b = %q", got)
	}
	assertOnly(t, filepath.Join(s.Root(), "tmp"))
}

// TestEnsureLayerRepairs: debris of a crashed unpack is removed and the layer
// unpacked afresh.
func TestEnsureLayerRepairs(t *testing.T) {
	requireRoot(t)
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, blob := testLayer(t, E{Name: "a", Body: "a"})
	half := filepath.Join(s.Root(), "tmp", l.DiffID.Encoded()+".crashed")
	mkdirs(t, half)
	writeFile(t, filepath.Join(half, "partial"), "p")
	pin, err := s.EnsureLayer(l, opener(blob))
	if err != nil || !pin.Unpacked {
		t.Fatalf("EnsureLayer = %+v, %v", pin, err)
	}
	pin.Release()
	assertOnly(t, filepath.Join(s.Root(), "tmp"))
	assertOnly(t, s.LayerDir(l.DiffID), "a")
}

// TestCorruptLayers: each bad blob is an error naming the digest, and leaves
// neither a layer nor debris in the store.
func TestCorruptLayers(t *testing.T) {
	requireRoot(t)
	good, blob := testLayer(t, E{Name: "a", Body: strings.Repeat("a", 100000)})
	flipped := append([]byte(nil), blob...)
	flipped[len(flipped)/2] ^= 0xff
	cases := []struct {
		name  string
		layer Layer
		blob  []byte
		want  string
	}{
		{"truncated", good, blob[:len(blob)/2], "layer " + good.Blob.Digest.String()},
		{"corrupt", good, flipped, good.Blob.Digest.String()},
		{"wrong blob digest", Layer{Blob: ocispec.Descriptor{MediaType: good.Blob.MediaType, Digest: ocispec.FromBytes([]byte("x")), Size: good.Blob.Size}, DiffID: good.DiffID}, blob, "content digest is " + good.Blob.Digest.String()},
		{"wrong diff id", Layer{Blob: good.Blob, DiffID: ocispec.FromBytes([]byte("y"))}, blob, "diff_id is " + ocispec.FromBytes([]byte("y")).String()},
		{"wrong size", Layer{Blob: ocispec.Descriptor{MediaType: good.Blob.MediaType, Digest: good.Blob.Digest, Size: good.Blob.Size + 1}, DiffID: good.DiffID}, blob, "manifest says"},
		{"unknown media type", Layer{Blob: ocispec.Descriptor{MediaType: "application/x-rar", Digest: good.Blob.Digest, Size: good.Blob.Size}, DiffID: good.DiffID}, blob, `unknown layer media type "application/x-rar"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := OpenStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.EnsureLayer(tc.layer, opener(tc.blob))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			assertOnly(t, filepath.Join(s.Root(), "tmp"))
			assertOnly(t, filepath.Join(s.Root(), "layers", "sha256"))
		})
	}
}

// TestUnpackPreservesMetadata: owners, setuid, capabilities, hard links,
// symlinks, fifos, devices and mtimes survive.
func TestUnpackPreservesMetadata(t *testing.T) {
	requireRoot(t)
	capXattr := string([]byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // cap_net_raw+ep, v2
	l, blob := testLayer(t,
		E{Name: "bin/", Type: tar.TypeDir, Mode: 0o751, UID: 5, GID: 6},
		E{Name: "bin/su", Body: "su", Mode: 0o4755, UID: 0, GID: 0},
		E{Name: "bin/ping", Body: "ping", Mode: 0o755, UID: 7, GID: 8, Xattrs: map[string]string{"security.capability": capXattr}},
		E{Name: "bin/ping2", Type: tar.TypeLink, Link: "bin/ping"},
		E{Name: "bin/sh", Type: tar.TypeSymlink, Link: "/bin/busybox", UID: 9, GID: 9},
		E{Name: "fifo", Type: tar.TypeFifo, Mode: 0o600},
		E{Name: "null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
	)
	dir := t.TempDir()
	if err := UnpackLayer(dir, strings.NewReader(string(blob)), l, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	st := func(p string) os.FileInfo {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	if m := st("bin/su").Mode(); m&os.ModeSetuid == 0 || m.Perm() != 0o755 {
		t.Errorf("bin/su mode %v", m)
	}
	if st("bin").Mode().Perm() != 0o751 || !st("bin").ModTime().Equal(imagetest.Epoch) {
		t.Errorf("bin mode %v mtime %v", st("bin").Mode(), st("bin").ModTime())
	}
	if v := getXattr(t, filepath.Join(dir, "bin/ping"), "security.capability"); v != capXattr {
		t.Errorf("bin/ping capability xattr %q", v)
	}
	if !os.SameFile(st("bin/ping"), st("bin/ping2")) {
		t.Error("bin/ping2 is not a hard link of bin/ping")
	}
	if target, _ := os.Readlink(filepath.Join(dir, "bin/sh")); target != "/bin/busybox" {
		t.Errorf("bin/sh -> %q", target)
	}
	if st("fifo").Mode()&os.ModeNamedPipe == 0 || st("null").Mode()&os.ModeCharDevice == 0 {
		t.Errorf("fifo %v null %v", st("fifo").Mode(), st("null").Mode())
	}
	if uid, gid := owner(st("bin/ping")); uid != 7 || gid != 8 {
		t.Errorf("bin/ping owner %d:%d", uid, gid)
	}
	if uid, _ := owner(st("bin/sh")); uid != 9 {
		t.Errorf("bin/sh owner %d", uid)
	}
}

// TestCompressions: zstd and uncompressed layers unpack like gzip ones.
func TestCompressions(t *testing.T) {
	requireRoot(t)
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"zstd", "none"} {
		raw := imagetest.Tar(t, E{Name: c, Body: c})
		mt, blob := imagetest.Compress(t, raw, c)
		l := Layer{Blob: ocispec.Descriptor{MediaType: mt, Digest: ocispec.FromBytes(blob), Size: int64(len(blob))}, DiffID: ocispec.FromBytes(raw)}
		if _, err := s.EnsureLayer(l, opener(blob)); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if got := readFile(t, filepath.Join(s.LayerDir(l.DiffID), c)); got != c {
			t.Fatalf("%s layer: file holds %q", c, got)
		}
	}
}

// TestPinKeepsLayer: gc's CollectLayer leaves a pinned layer (a create has it
// but has not recorded it yet) and removes it, with its lock file, once the
// pin is released; a later EnsureLayer unpacks it again.
func TestPinKeepsLayer(t *testing.T) {
	requireRoot(t)
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, blob := testLayer(t, E{Name: "a", Body: "a"})
	pin, err := s.EnsureLayer(l, opener(blob))
	if err != nil {
		t.Fatal(err)
	}
	if gone, err := s.CollectLayer(l.DiffID); err != nil || gone || !s.HasLayer(l.DiffID) {
		t.Fatalf("CollectLayer of a pinned layer: removed %v (%v)", gone, err)
	}
	pin.Release()
	if gone, err := s.CollectLayer(l.DiffID); err != nil || !gone || s.HasLayer(l.DiffID) {
		t.Fatalf("CollectLayer of a released layer: removed %v (%v)", gone, err)
	}
	assertOnly(t, filepath.Join(s.Root(), "locks"))
	again, err := s.EnsureLayer(l, opener(blob))
	if err != nil || !again.Unpacked {
		t.Fatalf("EnsureLayer after gc: %+v, %v", again, err)
	}
	again.Release()
}

package image

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/ocispec"
)

// TestLayerSyncedBeforePublish: a layer's filesystem is flushed while the
// layer is still in tmp/, before the rename that publishes it, and a blob's
// file before its rename: a power loss cannot leave a complete-looking
// layer or blob of empty files.
func TestLayerSyncedBeforePublish(t *testing.T) {
	requireRoot(t)
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, blob := testLayer(t, E{Name: "a", Body: "a"})
	fsSyncs := 0
	syncFilesystem = func(fd int) error {
		fsSyncs++
		if s.HasLayer(l.DiffID) {
			t.Error("the filesystem was synced after the layer was published")
		}
		if tmp, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(tmp) != 1 {
			t.Errorf("at the sync tmp/ holds %d entries, want the unpacked layer", len(tmp))
		}
		return unix.Syncfs(fd)
	}
	var blobPath string
	fileSyncs := 0
	syncFile = func(f *os.File) error {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			fileSyncs++
			if _, err := os.Stat(blobPath); err == nil {
				t.Errorf("%s was synced after its rename to %s", f.Name(), blobPath)
			}
		}
		return f.Sync()
	}
	t.Cleanup(func() { syncFilesystem, syncFile = unix.Syncfs, (*os.File).Sync })
	if _, err := s.EnsureLayer(l, opener(blob)); err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"a":1}`)
	blobPath = s.blobPath(ocispec.FromBytes(data))
	if _, err := s.PutBlob(data); err != nil {
		t.Fatal(err)
	}
	if fsSyncs != 1 || fileSyncs != 1 {
		t.Fatalf("%d filesystem syncs for one layer and %d file syncs for one blob, want 1 and 1", fsSyncs, fileSyncs)
	}
}

// goSources is n bytes of the Go distribution's source files, which
// compress as layers of source trees do (about 5x).
func goSources(t testing.TB, n int) []byte {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	var b bytes.Buffer
	err = filepath.WalkDir(filepath.Join(strings.TrimSpace(string(out)), "src"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || b.Len() >= n {
			return err
		}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			b.Write(data)
			return err
		}
		return nil
	})
	if err != nil || b.Len() < n {
		t.Fatalf("reading %d bytes of Go sources: got %d, %v", n, b.Len(), err)
	}
	return b.Bytes()[:n]
}

// TestGzipInBlocks: a gzip layer is deflated in 1 MiB blocks, each ending
// in a sync flush, which is what lets every core compress one (a single
// deflate stream, as before, has no such marks); it is still one gzip
// stream any reader takes, with bytes that do not depend on the number of
// cores. How much faster it is, the machine's load decides: see
// BenchmarkGzip.
func TestGzipInBlocks(t *testing.T) {
	data := goSources(t, 8<<20)
	gz := func() []byte {
		var buf bytes.Buffer
		zw, err := compress(&buf, Gzip)
		if err == nil {
			_, err = zw.Write(data)
		}
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	parallel := gz()
	// A sync flush is an empty stored block: LEN 0x0000, NLEN 0xffff.
	if n, want := bytes.Count(parallel, []byte{0, 0, 0xff, 0xff}), len(data)/gzipBlock-1; n < want {
		t.Errorf("%d sync flushes in the gzip of %d MiB, want at least %d (one per %d-byte block)", n, len(data)>>20, want, gzipBlock)
	}
	prev := runtime.GOMAXPROCS(1)
	one := gz()
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(parallel, one) {
		t.Error("the gzip bytes differ between one core and all of them")
	}
	zr, err := gzip.NewReader(bytes.NewReader(parallel))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false) // as decompress reads layers: one member
	back, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("the standard library's gzip reader got %d bytes (%v), want the %d written", len(back), err, len(data))
	}
}

// BenchmarkGzip compresses 32 MiB of Go sources as a layer is, and, for
// comparison, as the single deflate stream strata wrote before.
func BenchmarkGzip(b *testing.B) {
	data := goSources(b, 32<<20)
	for _, w := range []struct {
		name string
		new  func(io.Writer) (io.WriteCloser, error)
	}{
		{"blocks", func(w io.Writer) (io.WriteCloser, error) { return compress(w, Gzip) }},
		{"one-stream", func(w io.Writer) (io.WriteCloser, error) { return kgzip.NewWriterLevel(w, kgzip.DefaultCompression) }},
	} {
		b.Run(w.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for range b.N {
				zw, err := w.new(io.Discard)
				if err == nil {
					_, err = zw.Write(data)
				}
				if err == nil {
					err = zw.Close()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

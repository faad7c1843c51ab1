package bundle_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
)

type E = imagetest.Entry

// busyboxLayout writes an image of the busybox layer plus extra layers into a
// new layout, tagged "v1", and returns the layout directory.
func busyboxLayout(t testing.TB, extra ...[]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	imagetest.WriteLayout(t, dir, "v1", imagetest.Image{
		Layers: append([][]byte{imagetest.Busybox(t)}, extra...),
		Config: v1.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
	})
	return dir
}

// newBundle returns a bundle path that does not exist yet and registers an
// unmount of its rootfs, so that a failing test leaves no mount behind.
func newBundle(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	t.Cleanup(func() { unix.Unmount(filepath.Join(dir, "rootfs"), unix.MNT_DETACH) })
	return dir
}

// tarEntries lists a layer tar file as "name type [content]" lines.
func tarEntries(t testing.TB, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var out []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		line := hdr.Name + " " + string(hdr.Typeflag)
		if len(body) > 0 {
			line += " " + strings.TrimSpace(string(body))
		}
		out = append(out, line)
	}
}

func assertEmptyDir(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("%s is not empty: %d entries, first %s", dir, len(entries), entries[0].Name())
	}
}

func assertNoMountsUnder(t testing.TB, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), dir) {
		t.Fatalf("a mount under %s is left", dir)
	}
}

package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
)

type E = imagetest.Entry

// TestHostileLayers feeds ApplyTar one malicious layer per case and checks the
// error names the entry, and that nothing appeared outside the layer directory.
func TestHostileLayers(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		name    string
		entries func(outside string) []E
		unpriv  bool
		entry   string // the entry the error must name
		want    string
	}{
		{"dotdot", func(string) []E { return []E{{Name: "a/../../escape", Body: "x"}} }, false, "a/../../escape", `".." component`},
		{"absolute", func(string) []E { return []E{{Name: "/etc/escape", Body: "x"}} }, false, "/etc/escape", "absolute name"},
		{"symlinked parent absolute", func(out string) []E {
			return []E{{Name: "link", Type: tar.TypeSymlink, Link: out}, {Name: "link/file", Body: "x"}}
		}, false, "link/file", "is a symlink"},
		{"symlinked parent relative", func(string) []E {
			return []E{{Name: "up", Type: tar.TypeSymlink, Link: "../outside"}, {Name: "up/file", Body: "x"}}
		}, false, "up/file", "is a symlink"},
		{"symlinked grandparent", func(out string) []E {
			return []E{{Name: "d/", Type: tar.TypeDir}, {Name: "d/l", Type: tar.TypeSymlink, Link: out}, {Name: "d/l/sub/file", Body: "x"}}
		}, false, "d/l/sub/file", "symlink"},
		{"hard link leaving the layer", func(string) []E {
			return []E{{Name: "h", Type: tar.TypeLink, Link: "../outside/victim"}}
		}, false, "h", `".." component`},
		{"hard link absolute", func(out string) []E {
			return []E{{Name: "h", Type: tar.TypeLink, Link: out + "/victim"}}
		}, false, "h", "absolute name"},
		{"hard link through symlink", func(out string) []E {
			return []E{{Name: "s", Type: tar.TypeSymlink, Link: out}, {Name: "h", Type: tar.TypeLink, Link: "s/victim"}}
		}, false, "h", "symlink"},
		{"hard link to missing target", func(string) []E {
			return []E{{Name: "h", Type: tar.TypeLink, Link: "nothere"}}
		}, false, "h", "does not exist in the layer"},
		{"device node unprivileged", func(string) []E {
			return []E{{Name: "dev/sda", Type: tar.TypeBlock, Major: 8, Minor: 0}}
		}, true, "dev/sda", "needs root"},
		{"name longer than PATH_MAX", func(string) []E {
			return []E{{Name: strings.Repeat("a/", 2100) + "f", Body: "x"}}
		}, false, strings.Repeat("a/", 2100) + "f", "longer than PATH_MAX"},
		{"component longer than NAME_MAX", func(string) []E {
			return []E{{Name: strings.Repeat("n", 300), Body: "x"}}
		}, false, strings.Repeat("n", 300), "NAME_MAX"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			top := t.TempDir()
			outside := filepath.Join(top, "outside")
			layer := filepath.Join(top, "layer")
			mkdirs(t, outside, layer)
			writeFile(t, filepath.Join(outside, "victim"), "precious")
			err := ApplyTar(layer, bytes.NewReader(imagetest.Tar(t, tc.entries(outside)...)), ApplyOptions{Unprivileged: tc.unpriv})
			if err == nil {
				t.Fatalf("hostile layer accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.entry[:min(len(tc.entry), 40)]) {
				t.Fatalf("error %q should name entry %.40q and say %q", err, tc.entry, tc.want)
			}
			assertOnly(t, top, "layer", "outside")
			assertOnly(t, outside, "victim")
			if got := readFile(t, filepath.Join(outside, "victim")); got != "precious" {
				t.Fatalf("outside file changed to %q", got)
			}
		})
	}
}

// TestOversizeHeader checks a PAX header beyond the tar reader's limit is an
// error, not an allocation.
func TestOversizeHeader(t *testing.T) {
	// archive/tar will not write such a header: write a 2 MiB one as a plain
	// file entry, then turn its type into 'x' (PAX extended header).
	record := "2097166 path=" + strings.Repeat("x", 2097166-13) + "\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "pax", Typeflag: tar.TypeReg, Size: int64(len(record)), Mode: 0o644, Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(record))
	tw.Close()
	raw := buf.Bytes()
	raw[156] = tar.TypeXHeader
	copy(raw[148:156], "        ")
	sum := 0
	for _, b := range raw[:512] {
		sum += int(b)
	}
	copy(raw[148:156], fmt.Sprintf("%06o\x00 ", sum))
	layer := t.TempDir()
	err := ApplyTar(layer, bytes.NewReader(raw), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "reading the tar header") {
		t.Fatalf("want a tar header error, got %v", err)
	}
	assertOnly(t, layer)
}

// TestReplaceSymlinkNotFollowed: a later entry with a symlink's name replaces
// the symlink; it never writes through it.
func TestReplaceSymlinkNotFollowed(t *testing.T) {
	requireRoot(t)
	top := t.TempDir()
	outside, layer := filepath.Join(top, "outside"), filepath.Join(top, "layer")
	mkdirs(t, outside, layer)
	writeFile(t, filepath.Join(outside, "victim"), "precious")
	tarball := imagetest.Tar(t,
		E{Name: "s", Type: tar.TypeSymlink, Link: filepath.Join(outside, "victim")},
		E{Name: "s", Body: "replaced"})
	if err := ApplyTar(layer, bytes.NewReader(tarball), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(layer, "s")); got != "replaced" {
		t.Fatalf("s = %q", got)
	}
	if got := readFile(t, filepath.Join(outside, "victim")); got != "precious" {
		t.Fatalf("wrote through the symlink: victim = %q", got)
	}
}

// TestOverlayWhiteouts: whiteouts become what overlayfs reads in a lower dir,
// and trusted.overlay.* xattrs from the layer are dropped.
func TestOverlayWhiteouts(t *testing.T) {
	requireRoot(t)
	layer := t.TempDir()
	tarball := imagetest.Tar(t,
		E{Name: "etc/", Type: tar.TypeDir},
		E{Name: "etc/.wh.gone", Body: ""},
		E{Name: "opaque/", Type: tar.TypeDir, Xattrs: map[string]string{"trusted.overlay.redirect": "/etc"}},
		E{Name: "opaque/.wh..wh..opq", Body: ""},
		E{Name: "opaque/new", Body: "n"},
		E{Name: "keep", Body: "k"},
		E{Name: ".wh.keep", Body: ""}, // whiteouts never hide their own layer's files
	)
	if err := ApplyTar(layer, bytes.NewReader(tarball), ApplyOptions{Whiteouts: OverlayWhiteouts}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(layer, "etc/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Fatalf("etc/gone should be a 0/0 char device: %v %o %d", err, st.Mode, st.Rdev)
	}
	if v := getXattr(t, filepath.Join(layer, "opaque"), "trusted.overlay.opaque"); v != "y" {
		t.Fatalf("opaque dir xattr = %q", v)
	}
	if v := getXattr(t, filepath.Join(layer, "opaque"), "trusted.overlay.redirect"); v != "" {
		t.Fatalf("layer-supplied trusted.overlay.redirect was applied: %q", v)
	}
	if readFile(t, filepath.Join(layer, "keep")) != "k" {
		t.Fatal("keep was whited out by its own layer")
	}
	assertOnly(t, layer, "etc", "keep", "opaque")
}

// TestApplyWhiteouts: in a flattened rootfs, whiteouts delete from lower
// layers only, and an opaque directory keeps its own layer's entries even
// when the opaque marker comes after them.
func TestApplyWhiteouts(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	apply := func(entries ...E) {
		t.Helper()
		if err := ApplyTar(root, bytes.NewReader(imagetest.Tar(t, entries...)), ApplyOptions{Whiteouts: ApplyWhiteouts}); err != nil {
			t.Fatal(err)
		}
	}
	apply(E{Name: "d/", Type: tar.TypeDir}, E{Name: "d/old", Body: "o"}, E{Name: "f", Body: "f"}, E{Name: "g", Body: "g"})
	apply(E{Name: "d/", Type: tar.TypeDir}, E{Name: "d/new", Body: "n"}, E{Name: "d/.wh..wh..opq"},
		E{Name: ".wh.f"}, E{Name: "g2", Body: "x"}, E{Name: ".wh.g2"})
	assertOnly(t, root, "d", "g", "g2")
	assertOnly(t, filepath.Join(root, "d"), "new")
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (CI runs as root): chown, mknod and trusted.* xattrs")
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getXattr(t *testing.T, p, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// assertOnly checks dir holds exactly the names given.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

func owner(fi os.FileInfo) (uint32, uint32) {
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// TestNoWhiteoutsRefusesWhiteoutNames: an archive that is not a layer (ADD's)
// may not carry a .wh. name, which would delete a file of the image or be
// read as a whiteout in the layer made of it; the error names the entry.
func TestNoWhiteoutsRefusesWhiteoutNames(t *testing.T) {
	requireRoot(t)
	for _, name := range []string{"a/.wh.b", ".wh..wh..opq"} {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "b"), "kept")
		err := ApplyTar(root, bytes.NewReader(imagetest.Tar(t, E{Name: "a/", Type: tar.TypeDir}, E{Name: name, Body: ""})), ApplyOptions{Whiteouts: NoWhiteouts})
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "whiteout") {
			t.Errorf("entry %s: got %v, want a refusal naming it", name, err)
		}
		if got := readFile(t, filepath.Join(root, "b")); got != "kept" {
			t.Errorf("entry %s: b is %q", name, got)
		}
	}
}

package bundle

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/image"
)

// change makes the edits a container would, through the mounted rootfs.
func change(t *testing.T, rootfs string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(rootfs, "added"), []byte("new file"), 0o640))
	must(os.WriteFile(filepath.Join(rootfs, "etc/motd"), []byte("changed"), 0o600))
	must(os.Remove(filepath.Join(rootfs, "becomes-dir/inside")))
	must(os.RemoveAll(filepath.Join(rootfs, "data")))
	must(os.Mkdir(filepath.Join(rootfs, "data"), 0o755)) // a directory replaced wholesale: opaque
	must(os.WriteFile(filepath.Join(rootfs, "data/fresh"), []byte("f"), 0o644))
	must(os.Symlink("added", filepath.Join(rootfs, "alink")))
}

// listTar lists a layer tar as "name type" lines.
func listTar(t *testing.T, r io.Reader) []string {
	t.Helper()
	tr := tar.NewReader(r)
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
		line := fmt.Sprintf("%s %c", hdr.Name, hdr.Typeflag)
		if len(body) > 0 {
			line += " " + string(body)
		}
		if hdr.Linkname != "" {
			line += " -> " + hdr.Linkname
		}
		out = append(out, line)
	}
}

func TestDiffIsTheChanges(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{})
	b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: t.TempDir()})
	change(t, filepath.Join(b, rootfsDir))
	out := filepath.Join(t.TempDir(), "layer.tar")
	blob, err := Diff(b, out, image.Uncompressed)
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"added 0 new file",
		"alink 2 -> added",
		"becomes-dir/ 5",
		"becomes-dir/.wh.inside 0",
		"data/ 5",
		"data/.wh..wh..opq 0",
		"data/fresh 0 f",
		"etc/ 5",
		"etc/motd 0 changed",
	}
	if got := listTar(t, bytes.NewReader(first)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if blob.DiffID != blob.Descriptor.Digest {
		t.Errorf("uncompressed diff: blob digest %s != diff id %s", blob.Descriptor.Digest, blob.DiffID)
	}
	// The same changes give the same bytes, whatever the compression.
	for _, c := range []image.Compression{image.Uncompressed, image.Gzip, image.Zstd} {
		a, err := Diff(b, out, c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Diff(b, out, c)
		if err != nil {
			t.Fatal(err)
		}
		if a.Descriptor.Digest != again.Descriptor.Digest || a.DiffID != blob.DiffID {
			t.Errorf("%s: diffs %v and %v differ (diff id want %s)", c, a, again, blob.DiffID)
		}
	}
}

// TestCommitThenCreate: commit writes an image whose new bundle shows the
// changes, and gc keeps every layer a bundle uses.
func TestCommitThenCreate(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{})
	store := t.TempDir()
	b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store})
	change(t, filepath.Join(b, rootfsDir))
	target := filepath.Join(t.TempDir(), "committed") // a new layout: base blobs get copied
	if _, err := Commit(CommitOptions{Bundle: b, Target: ociRef(target, "v2"), Message: "step 1", Compress: image.Gzip}); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(ociRef(target, "v2"), "")
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
	if n := len(img.Layers); n != 5 || len(img.Config.History) != 5 || img.Config.History[4].Comment != "step 1" {
		t.Fatalf("committed image has %d layers, history %+v", n, img.Config.History)
	}
	b2 := create(t, CreateOptions{Image: ociRef(target, "v2"), Store: store})
	r2 := filepath.Join(b2, rootfsDir)
	for p, want := range map[string]string{"added": "new file", "etc/motd": "changed", "data/fresh": "f"} {
		if got, err := os.ReadFile(filepath.Join(r2, p)); err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", p, got, err, want)
		}
	}
	for _, gone := range []string{"becomes-dir/inside", "data/x", "data/hl1"} {
		if _, err := os.Lstat(filepath.Join(r2, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still present in the committed image (%v)", gone, err)
		}
	}

	// gc: with both bundles, nothing goes; after removing the second, only
	// its top layer does.
	if removed, err := GC(store); err != nil || len(removed) != 0 {
		t.Fatalf("gc with all layers in use removed %v (%v)", removed, err)
	}
	if err := Remove(b2); err != nil {
		t.Fatal(err)
	}
	removed, err := GC(store)
	if err != nil || len(removed) != 1 || removed[0] != img.Layers[4].DiffID {
		t.Fatalf("gc removed %v (%v), want only %s", removed, err, img.Layers[4].DiffID)
	}
	entries, err := List(store)
	if err != nil || len(entries) != 1 || entries[0].Dir != b || !entries[0].Mounted {
		t.Fatalf("ls: %+v %v", entries, err)
	}
}

// TestGCDuringCreate: gc running while bundles are created never removes a
// layer a create has unpacked but not yet recorded (the store lock).
func TestGCDuringCreate(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{})
	store := t.TempDir()
	done := make(chan struct{})
	gcErr := make(chan error, 1)
	stop := sync.OnceValue(func() error { close(done); return <-gcErr })
	t.Cleanup(func() { stop() }) // before t.TempDir's removal, even on failure
	go func() {
		defer close(gcErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			// Until the first create makes the store, there is none to collect.
			if _, err := GC(store); err != nil && !errors.Is(err, image.ErrNoStore) {
				gcErr <- err
				return
			}
		}
	}()
	for i := 0; i < 15; i++ {
		b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store})
		if _, err := os.Stat(filepath.Join(b, rootfsDir, "bin/busybox")); err != nil {
			t.Fatalf("create %d: rootfs incomplete while gc ran: %v", i, err)
		}
		if err := Remove(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestCommitRecordsCommand: the committed image's Cmd is the container's
// command, after the image's Entrypoint as podman commit records it, or the
// whole of process.args without an Entrypoint once config.json no longer
// starts with it; history names the command, as docker commit's does.
func TestCommitRecordsCommand(t *testing.T) {
	requireRoot(t)
	env := []string{"PATH=/bin", "A=1"}
	layout := fixtureLayout(t, v1.ImageConfig{Entrypoint: []string{"/bin/busybox"}, Cmd: []string{"sh"}, Env: env})
	store := t.TempDir()
	for _, tc := range []struct {
		name            string
		edit            []string // process.args written over create's
		entrypoint, cmd []string
		createdBy       string
	}{
		{name: "args after the entrypoint", entrypoint: []string{"/bin/busybox"}, cmd: []string{"echo", "hi there"}, createdBy: "/bin/busybox echo hi there"},
		{name: "args edited", edit: []string{"/bin/sh", "-c", "true"}, cmd: []string{"/bin/sh", "-c", "true"}, createdBy: "/bin/sh -c true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store, Spec: SpecOptions{Args: []string{"echo", "hi there"}}})
			if tc.edit != nil {
				var spec map[string]any
				readJSON(t, filepath.Join(b, "config.json"), &spec)
				spec["process"].(map[string]any)["args"] = tc.edit
				if err := writeJSON(filepath.Join(b, "config.json"), spec); err != nil {
					t.Fatal(err)
				}
			}
			target := filepath.Join(t.TempDir(), "committed")
			if _, err := Commit(CommitOptions{Bundle: b, Target: ociRef(target, "v2"), Compress: image.Uncompressed}); err != nil {
				t.Fatal(err)
			}
			img, err := image.Open(ociRef(target, "v2"), "")
			if err != nil {
				t.Fatal(err)
			}
			img.Close()
			c, h := img.Config.Config, img.Config.History
			if !slices.Equal(c.Entrypoint, tc.entrypoint) || !slices.Equal(c.Cmd, tc.cmd) || h[len(h)-1].CreatedBy != tc.createdBy {
				t.Fatalf("committed Entrypoint %q Cmd %q created_by %q, want %q %q %q", c.Entrypoint, c.Cmd, h[len(h)-1].CreatedBy, tc.entrypoint, tc.cmd, tc.createdBy)
			}
			if !slices.Equal(c.Env, env) {
				t.Fatalf("commit changed the image's Env to %q, want %q", c.Env, env)
			}
			if err := Remove(b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

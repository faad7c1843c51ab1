// Package imagetest builds OCI images for tests: layer tars from entry
// lists, image layouts with manifests, configs and indexes, and a busybox
// base layer. It writes with the standard library and image-spec types only,
// so the code under test does not check itself.
package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specsv "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Entry is one tar entry; Type defaults to a regular file, Mode to 0644 (0755 for directories).
type Entry struct {
	Name         string
	Type         byte
	Body         string
	Mode         int64
	UID, GID     int
	Link         string
	Major, Minor int64
	Xattrs       map[string]string
	ModTime      time.Time
}

// Epoch is the default modification time of entries.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Tar builds an uncompressed layer tar.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Uid: e.UID, Gid: e.GID,
			Linkname: e.Link, Devmajor: e.Major, Devminor: e.Minor, ModTime: e.ModTime, Format: tar.FormatPAX}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if hdr.ModTime.IsZero() {
			hdr.ModTime = Epoch
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		for k, v := range e.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.Name, err)
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatalf("tar body %s: %v", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Image describes an image to write.
type Image struct {
	Layers   [][]byte // uncompressed tars, bottom first
	Compress string   // "gzip" (default), "zstd" or "none"
	Config   v1.ImageConfig
	Platform *v1.Platform // default: the host's
	History  bool         // write one history entry per layer
}

// WriteBlob stores data in the layout at dir and describes it.
func WriteBlob(t testing.TB, dir, mediaType string, data []byte) v1.Descriptor {
	t.Helper()
	d := digest.FromBytes(data)
	p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// Compress compresses a layer tar as named ("gzip", "zstd" or "none").
func Compress(t testing.TB, layer []byte, how string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	switch how {
	case "", "gzip":
		zw := gzip.NewWriter(&buf)
		zw.Write(layer)
		zw.Close()
		return v1.MediaTypeImageLayerGzip, buf.Bytes()
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(layer)
		zw.Close()
		return v1.MediaTypeImageLayerZstd, buf.Bytes()
	}
	return v1.MediaTypeImageLayer, layer
}

// WriteManifest writes the image's layers, config and manifest into the
// layout at dir (without tagging it) and returns the manifest's descriptor.
func WriteManifest(t testing.TB, dir string, img Image) v1.Descriptor {
	t.Helper()
	p := img.Platform
	if p == nil {
		p = &v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	}
	cfg := v1.Image{Platform: *p, Config: img.Config, RootFS: v1.RootFS{Type: "layers"}}
	created := Epoch
	cfg.Created = &created
	m := v1.Manifest{Versioned: specsv.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest}
	for i, l := range img.Layers {
		mt, blob := Compress(t, l, img.Compress)
		m.Layers = append(m.Layers, WriteBlob(t, dir, mt, blob))
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(l))
		if img.History {
			cfg.History = append(cfg.History, v1.History{Created: &created, CreatedBy: "layer " + string(rune('0'+i%10))})
		}
	}
	m.Config = WriteBlob(t, dir, v1.MediaTypeImageConfig, mustJSON(t, cfg))
	d := WriteBlob(t, dir, v1.MediaTypeImageManifest, mustJSON(t, m))
	d.Platform = p
	return d
}

// WriteLayout writes img into the layout at dir, tagged tag, and returns its
// manifest descriptor.
func WriteLayout(t testing.TB, dir, tag string, img Image) v1.Descriptor {
	t.Helper()
	d := WriteManifest(t, dir, img)
	Tag(t, dir, tag, d)
	return d
}

// WriteIndex writes an image index of the manifests, tagged tag.
func WriteIndex(t testing.TB, dir, tag string, manifests ...v1.Descriptor) v1.Descriptor {
	t.Helper()
	idx := v1.Index{Versioned: specsv.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: manifests}
	d := WriteBlob(t, dir, v1.MediaTypeImageIndex, mustJSON(t, idx))
	Tag(t, dir, tag, d)
	return d
}

// Tag adds an index.json entry naming d with tag, creating the layout files.
func Tag(t testing.TB, dir, tag string, d v1.Descriptor) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	idx := v1.Index{Versioned: specsv.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	if data, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil {
		if err := json.Unmarshal(data, &idx); err != nil {
			t.Fatal(err)
		}
	}
	d.Annotations = map[string]string{v1.AnnotationRefName: tag}
	d.Platform = nil
	idx.Manifests = append(idx.Manifests, d)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), mustJSON(t, idx), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BusyboxApplets are linked to /bin/busybox in the Busybox layer.
var BusyboxApplets = []string{"sh", "ls", "cat", "echo", "rm", "mkdir", "touch", "mv", "cp", "chmod", "ln", "true", "false", "id", "stat", "rmdir", "sleep", "test", "grep"}

// Busybox is a base layer: the host's static busybox with applet symlinks,
// /etc/passwd and /etc/group with a named user, and the usual directories.
func Busybox(t testing.TB) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed for test images: %v", err)
	}
	entries := []Entry{
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/busybox", Body: string(bb), Mode: 0o755},
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"},
		{Name: "etc/group", Body: "root:x:0:\nalice:x:1000:\nwheel:x:10:alice\naudio:x:29:alice\n"},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "root/", Type: tar.TypeDir, Mode: 0o700},
		{Name: "proc/", Type: tar.TypeDir},
		{Name: "sys/", Type: tar.TypeDir},
		{Name: "dev/", Type: tar.TypeDir},
	}
	for _, a := range BusyboxApplets {
		entries = append(entries, Entry{Name: "bin/" + a, Type: tar.TypeSymlink, Link: "busybox", Mode: 0o777})
	}
	return Tar(t, entries...)
}

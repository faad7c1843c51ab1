package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/ocispec"
)

// LayoutWriter adds blobs and tags to an OCI image layout directory, which it
// creates if needed. It holds an exclusive flock on the directory until
// Close, so concurrent commits to one layout do not lose index entries.
type LayoutWriter struct {
	dir  string
	lock *os.File
}

// OpenLayoutWriter opens (or starts) the image layout at dir.
func OpenLayoutWriter(dir string) (*LayoutWriter, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("image layout %s: %w", dir, err)
	}
	lock, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("image layout %s: %w", dir, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("image layout %s: lock: %w", dir, err)
	}
	w := &LayoutWriter{dir: dir, lock: lock}
	layout := filepath.Join(dir, ocispec.ImageLayoutFile)
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		err = w.writeFile(layout, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		if err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// Close releases the layout's lock.
func (w *LayoutWriter) Close() error { return w.lock.Close() }

func (w *LayoutWriter) blobPath(d ocispec.Digest) string {
	return filepath.Join(w.dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// HasBlob reports whether the layout holds blob d.
func (w *LayoutWriter) HasBlob(d ocispec.Digest) bool {
	_, err := os.Stat(w.blobPath(d))
	return err == nil
}

// WriteBlob streams a blob through write, which returns the descriptor of
// what it wrote; the blob is published under that digest only on success.
func (w *LayoutWriter) WriteBlob(write func(io.Writer) (ocispec.Descriptor, error)) (ocispec.Descriptor, error) {
	tmp, err := os.CreateTemp(w.dir, ".strata-blob-")
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image layout %s: %w", w.dir, err)
	}
	defer os.Remove(tmp.Name())
	desc, err := write(tmp)
	if err == nil {
		err = syncFile(tmp)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), w.blobPath(desc.Digest))
	}
	if err == nil {
		err = syncDir(filepath.Dir(w.blobPath(desc.Digest)))
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image layout %s: writing blob: %w", w.dir, err)
	}
	return desc, nil
}

// PutBlob writes a metadata blob of the given media type.
func (w *LayoutWriter) PutBlob(mediaType string, data []byte) (ocispec.Descriptor, error) {
	return w.WriteBlob(func(out io.Writer) (ocispec.Descriptor, error) {
		_, err := out.Write(data)
		return ocispec.Descriptor{MediaType: mediaType, Digest: ocispec.FromBytes(data), Size: int64(len(data))}, err
	})
}

// CopyBlob copies blob d from r, refusing it unless size and digest match.
func (w *LayoutWriter) CopyBlob(d ocispec.Descriptor, r io.Reader) error {
	_, err := w.WriteBlob(func(out io.Writer) (ocispec.Descriptor, error) {
		if err := d.Digest.Validate(); err != nil {
			return d, fmt.Errorf("blob digest %q: %w", d.Digest, err)
		}
		h := d.Digest.Algorithm().Hash()
		n, err := io.Copy(out, io.TeeReader(r, h))
		if err != nil {
			return d, err
		}
		if got := ocispec.FromHash(d.Digest.Algorithm(), h); n != d.Size || got != d.Digest {
			return d, fmt.Errorf("blob %s: copied %d bytes with digest %s, expected %d bytes", d.Digest, n, got, d.Size)
		}
		return d, nil
	})
	return err
}

// Tag points tag (org.opencontainers.image.ref.name) at manifest m in
// index.json, replacing any entry that had the tag.
func (w *LayoutWriter) Tag(m ocispec.Descriptor, tag string) error {
	path := filepath.Join(w.dir, "index.json")
	index := ocispec.Index{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageIndex}
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &index); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	index.Manifests = slices.DeleteFunc(index.Manifests, func(d ocispec.Descriptor) bool {
		return d.Annotations[ocispec.AnnotationRefName] == tag
	})
	m.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	index.Manifests = append(index.Manifests, m)
	return w.writeFile(path, index)
}

// writeFile replaces a JSON file atomically, so readers never see half of it.
func (w *LayoutWriter) writeFile(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(w.dir, ".strata-json-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = syncFile(tmp)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		return fmt.Errorf("image layout %s: writing %s: %w", w.dir, filepath.Base(path), err)
	}
	return nil
}

// Untag removes tag's entries from index.json (the blobs stay).
func (w *LayoutWriter) Untag(tag string) error {
	path := filepath.Join(w.dir, "index.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var index ocispec.Index
	if err := json.Unmarshal(data, &index); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	index.Manifests = slices.DeleteFunc(index.Manifests, func(d ocispec.Descriptor) bool {
		return d.Annotations[ocispec.AnnotationRefName] == tag
	})
	return w.writeFile(path, index)
}

// RemoveBlob deletes blob d from the layout.
func (w *LayoutWriter) RemoveBlob(d ocispec.Digest) error {
	if err := os.Remove(w.blobPath(d)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image layout %s: %w", w.dir, err)
	}
	return nil
}

// LayoutHasTag reports whether the image layout at dir has a manifest
// tagged tag; a missing or unreadable layout has none.
func LayoutHasTag(dir, tag string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return false
	}
	var index ocispec.Index
	if json.Unmarshal(data, &index) != nil {
		return false
	}
	return slices.ContainsFunc(index.Manifests, func(d ocispec.Descriptor) bool {
		return d.Annotations[ocispec.AnnotationRefName] == tag
	})
}

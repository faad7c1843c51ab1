package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"
	specsv "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
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
	layout := filepath.Join(dir, v1.ImageLayoutFile)
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		err = w.writeFile(layout, v1.ImageLayout{Version: v1.ImageLayoutVersion})
		if err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// Close releases the layout's lock.
func (w *LayoutWriter) Close() error { return w.lock.Close() }

func (w *LayoutWriter) blobPath(d digest.Digest) string {
	return filepath.Join(w.dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// HasBlob reports whether the layout holds blob d.
func (w *LayoutWriter) HasBlob(d digest.Digest) bool {
	_, err := os.Stat(w.blobPath(d))
	return err == nil
}

// WriteBlob streams a blob through write, which returns the descriptor of
// what it wrote; the blob is published under that digest only on success.
func (w *LayoutWriter) WriteBlob(write func(io.Writer) (v1.Descriptor, error)) (v1.Descriptor, error) {
	tmp, err := os.CreateTemp(w.dir, ".strata-blob-")
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("image layout %s: %w", w.dir, err)
	}
	defer os.Remove(tmp.Name())
	desc, err := write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), w.blobPath(desc.Digest))
	}
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("image layout %s: writing blob: %w", w.dir, err)
	}
	return desc, nil
}

// PutBlob writes a metadata blob of the given media type.
func (w *LayoutWriter) PutBlob(mediaType string, data []byte) (v1.Descriptor, error) {
	return w.WriteBlob(func(out io.Writer) (v1.Descriptor, error) {
		_, err := out.Write(data)
		return v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, err
	})
}

// CopyBlob copies blob d from r, refusing it unless size and digest match.
func (w *LayoutWriter) CopyBlob(d v1.Descriptor, r io.Reader) error {
	_, err := w.WriteBlob(func(out io.Writer) (v1.Descriptor, error) {
		h := d.Digest.Algorithm().Digester()
		n, err := io.Copy(out, io.TeeReader(r, h.Hash()))
		if err != nil {
			return d, err
		}
		if n != d.Size || h.Digest() != d.Digest {
			return d, fmt.Errorf("blob %s: copied %d bytes with digest %s, expected %d bytes", d.Digest, n, h.Digest(), d.Size)
		}
		return d, nil
	})
	return err
}

// Tag points tag (org.opencontainers.image.ref.name) at manifest m in
// index.json, replacing any entry that had the tag.
func (w *LayoutWriter) Tag(m v1.Descriptor, tag string) error {
	path := filepath.Join(w.dir, "index.json")
	index := v1.Index{Versioned: specsv.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &index); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	index.Manifests = slices.DeleteFunc(index.Manifests, func(d v1.Descriptor) bool {
		return d.Annotations[v1.AnnotationRefName] == tag
	})
	m.Annotations = map[string]string{v1.AnnotationRefName: tag}
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
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("image layout %s: writing %s: %w", w.dir, filepath.Base(path), err)
	}
	return nil
}

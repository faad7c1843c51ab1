package build

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// checkTarget refuses an output strata cannot write before the build runs.
func checkTarget(t image.Ref) error {
	switch t.Transport {
	case image.OCILayout, image.OCIArchive:
		if t.Tag == "" {
			return fmt.Errorf("-t %s: expected %s:PATH:TAG (a tag names the image in the layout)", t, t.Transport)
		}
	case image.DockerArchive:
		if t.Tag == "" {
			return fmt.Errorf("-t %s: expected docker-archive:FILE:NAME:TAG", t)
		}
		if _, err := name.NewTag(t.Tag); err != nil {
			return fmt.Errorf("-t %s: %q is not a NAME:TAG reference: %w", t, t.Tag, err)
		}
	case image.Docker:
		// image.Push checks the reference itself; nothing is built for a
		// reference it would refuse.
		if _, err := name.ParseReference(t.Path); err != nil {
			return fmt.Errorf("-t %s: %w", t, err)
		}
	default:
		return fmt.Errorf("-t %s: expected oci:DIR:TAG, oci-archive:FILE:TAG, docker-archive:FILE:NAME:TAG or docker://HOST/REPO[:TAG]", t)
	}
	return nil
}

// writeTarget copies the final image from the cache to the target; out
// gets a line per blob a push sends.
func writeTarget(c *cache, st *state, t image.Ref, out io.Writer) error {
	switch t.Transport {
	case image.Docker:
		return push(c, st, t, out)
	case image.OCILayout:
		return writeLayout(c, st, t.Path, t.Tag)
	case image.OCIArchive:
		return writeOCIArchive(c, st, t.Path, t.Tag)
	case image.DockerArchive:
		return writeDockerArchive(c, st, t.Path, t.Tag)
	}
	return checkTarget(t)
}

// push sends the final image from the cache to a registry through
// image.Push (strata push's code): the manifest as the cache holds it, so
// the digest the build prints is the registry's.
func push(c *cache, st *state, t image.Ref, out io.Writer) error {
	img, err := image.Open(c.ref(st.key), "")
	if err != nil {
		return err
	}
	defer img.Close()
	res, err := image.Push(img, t, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d blobs uploaded, %d skipped (already in the registry)\n", t, res.Uploaded, res.Skipped)
	return nil
}

// imageBlobs are the final image's blobs: layers, config, manifest.
func imageBlobs(c *cache, st *state) ([]ocispec.Descriptor, error) {
	raw, err := os.ReadFile(c.blobPath(st.manifest.Digest))
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("build cache manifest %s: %w", st.manifest.Digest, err)
	}
	return append(append(m.Layers, m.Config), st.manifest), nil
}

func writeLayout(c *cache, st *state, dir, tag string) error {
	blobs, err := imageBlobs(c, st)
	if err != nil {
		return err
	}
	w, err := image.OpenLayoutWriter(dir)
	if err != nil {
		return err
	}
	defer w.Close()
	for _, d := range blobs {
		if w.HasBlob(d.Digest) {
			continue
		}
		f, err := os.Open(c.blobPath(d.Digest))
		if err != nil {
			return err
		}
		err = w.CopyBlob(d, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return w.Tag(st.manifest, tag)
}

// writeOCIArchive writes a tar of an image layout holding the one image.
func writeOCIArchive(c *cache, st *state, file, tag string) error {
	m := st.manifest
	m.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	index, err := json.Marshal(ocispec.Index{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{m}})
	if err != nil {
		return err
	}
	layoutFile, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	return writeArchive(c, st, file, map[string][]byte{ocispec.ImageLayoutFile: layoutFile, "index.json": index})
}

// dockerManifestEntry is one image of a docker-archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// writeDockerArchive writes the `docker save` format as docker 25 does:
// manifest.json naming the config and the layers by their blobs/sha256/
// paths (gzip layers as they are: docker load, podman load and skopeo read
// them, and the path gives each blob's digest).
func writeDockerArchive(c *cache, st *state, file, ref string) error {
	blobs, err := imageBlobs(c, st)
	if err != nil {
		return err
	}
	e := dockerManifestEntry{RepoTags: []string{ref}}
	for _, d := range blobs[:len(blobs)-2] {
		e.Layers = append(e.Layers, "blobs/sha256/"+d.Digest.Encoded())
	}
	e.Config = "blobs/sha256/" + blobs[len(blobs)-2].Digest.Encoded()
	manifest, err := json.Marshal([]dockerManifestEntry{e})
	if err != nil {
		return err
	}
	return writeArchive(c, st, file, map[string][]byte{"manifest.json": manifest})
}

// writeArchive writes a tar of the image's blobs under blobs/sha256/ and
// the given metadata files.
func writeArchive(c *cache, st *state, file string, meta map[string][]byte) error {
	blobs, err := imageBlobs(c, st)
	if err != nil {
		return err
	}
	return writeFileAtomic(file, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for _, name := range slices.Sorted(maps.Keys(meta)) {
			data := meta[name]
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
		for _, d := range blobs {
			if err := tarBlob(tw, c.blobPath(d.Digest), "blobs/sha256/"+d.Digest.Encoded(), d.Size); err != nil {
				return err
			}
		}
		return tw.Close()
	})
}

func tarBlob(tw *tar.Writer, src, name string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, size)
	return err
}

// writeFileAtomic writes file through a temporary file beside it, renamed
// only once complete.
func writeFileAtomic(file string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

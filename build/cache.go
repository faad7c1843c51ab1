package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// The build cache is an OCI image layout in the store, STORE/build-cache:
// every step's result is an image there, tagged with the step's cache key.
// A step whose key is tagged is not run again: its image (config with its
// created times and history, layers) is taken as it is, so a rebuild with
// nothing changed ends on the same manifest. RUN and COPY steps make their
// bundles from these images, which is how the layers reach the store.
const cacheDir = "build-cache"

// stepKey is the cache key of a step: the parent's key, the instruction as
// written, the build arguments in effect and, for COPY and ADD, the digest
// of what they read. Keys are hex, usable as layout tags.
func stepKey(parent, instruction string, args []string, content string) string {
	h := sha256.New()
	fmt.Fprintf(h, "parent %s\ninstruction %q\n", parent, instruction)
	for _, a := range args {
		fmt.Fprintf(h, "arg %q\n", a)
	}
	if content != "" {
		fmt.Fprintf(h, "content %s\n", content)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cache reads and writes the cache layout, remembering what this build
// added so that a failed build can take it back (journal.go).
type cache struct {
	dir     string
	journal *journal
}

func (c *cache) ref(key string) image.Ref {
	return image.Ref{Transport: image.OCILayout, Path: c.dir, Tag: key}
}

// lookup returns the cached image for key, or nil.
func (c *cache) lookup(key string) (*state, error) {
	if !image.LayoutHasTag(c.dir, key) {
		return nil, nil
	}
	img, err := image.Open(c.ref(key), "")
	if err != nil {
		return nil, fmt.Errorf("build cache %s: %w", c.dir, err)
	}
	defer img.Close()
	return stateFromImage(img, key)
}

// put writes st's config and manifest to the cache and tags them with
// st.key; layer blobs are already there.
func (c *cache) put(st *state) error {
	w, err := image.OpenLayoutWriter(c.dir)
	if err != nil {
		return err
	}
	defer w.Close()
	rawConfig, err := json.Marshal(st.config)
	if err != nil {
		return err
	}
	cfg, err := c.putBlob(w, ocispec.MediaTypeImageConfig, rawConfig)
	if err != nil {
		return err
	}
	m := ocispec.Manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: st.layers}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	md, err := c.putBlob(w, ocispec.MediaTypeImageManifest, rawManifest)
	if err != nil {
		return err
	}
	if err := w.Tag(md, st.key); err != nil {
		return err
	}
	c.journal.tags = append(c.journal.tags, st.key)
	st.manifest = md
	return nil
}

func (c *cache) putBlob(w *image.LayoutWriter, mediaType string, data []byte) (ocispec.Descriptor, error) {
	d := ocispec.FromBytes(data)
	if !w.HasBlob(d) {
		c.journal.blobs = append(c.journal.blobs, d)
	}
	return w.PutBlob(mediaType, data)
}

// blobPath is where a blob of the cache layout is.
func (c *cache) blobPath(d ocispec.Digest) string {
	return filepath.Join(c.dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// importBase copies an image given to FROM into the cache (its layer blobs,
// as OCI media types, and its config as it is), tagged with key.
func (c *cache) importBase(img *image.Image, key string) (*state, error) {
	w, err := image.OpenLayoutWriter(c.dir)
	if err != nil {
		return nil, err
	}
	st := &state{key: key}
	for i, l := range img.Layers {
		comp, err := image.Decompression(l.Blob.MediaType)
		if err != nil {
			w.Close()
			return nil, err
		}
		d := ocispec.Descriptor{MediaType: image.LayerMediaType(comp), Digest: l.Blob.Digest, Size: l.Blob.Size}
		if !w.HasBlob(d.Digest) {
			rc, err := img.OpenLayer(i)
			if err != nil {
				w.Close()
				return nil, err
			}
			err = w.CopyBlob(d, rc)
			rc.Close()
			if err != nil {
				w.Close()
				return nil, err
			}
			c.journal.blobs = append(c.journal.blobs, d.Digest)
		}
		st.layers = append(st.layers, d)
	}
	w.Close()
	if err := json.Unmarshal(img.RawConfig, &st.config); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.Ref, err)
	}
	padHistory(&st.config, len(img.Layers))
	return st, c.put(st)
}

// padHistory gives a base image without a history entry per layer
// placeholder entries for the missing ones, as commit does: the history
// of the built image must name one non-empty entry per layer, or tools
// such as buildah refuse it as a base.
func padHistory(img *ocispec.Image, layers int) {
	nonEmpty := 0
	for _, h := range img.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	for ; nonEmpty < layers; nonEmpty++ {
		img.History = append(img.History, ocispec.History{Created: img.Created, CreatedBy: "(base layer)"})
	}
}

// argsInEffect lists the stage's build arguments as KEY=VALUE, for keys.
func argsInEffect(vals map[string]string, order []string) []string {
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out
}

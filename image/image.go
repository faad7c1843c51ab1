// Package image reads OCI images (image layouts, oci-archives and docker-archives),
// keeps their layers unpacked in a content-addressed store, and writes a
// container's changes back as a new layer and image.
package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/strata-runtime/strata/image/ocispec"
)

// maxMetadataSize bounds manifests, indexes and configs: they are read whole
// into memory, and a hostile image could otherwise name a huge blob.
const maxMetadataSize = 16 << 20

// Layer is one filesystem layer of an image.
type Layer struct {
	// Blob is the layer as stored in the image, usually compressed.
	Blob ocispec.Descriptor
	// DiffID is the digest of the uncompressed tar: the layer's name in the store.
	DiffID ocispec.Digest
}

// Image is a resolved image: its manifest, config and layers, bottom first.
type Image struct {
	Ref            Ref
	ManifestDigest ocispec.Digest
	Manifest       ocispec.Manifest
	RawManifest    []byte
	Config         ocispec.Image
	RawConfig      []byte
	Layers         []Layer

	src imageSource
}

// imageSource opens blobs of one image container by descriptor.
type imageSource interface {
	openBlob(d ocispec.Descriptor) (io.ReadCloser, error)
	Close() error
}

// Open resolves ref to a single image, choosing from an index the manifest for
// platform ("os/arch[/variant]", empty for the host's).
func Open(ref Ref, platform string) (*Image, error) {
	want, err := ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	var img *Image
	switch ref.Transport {
	case OCILayout, OCIArchive:
		img, err = openOCI(ref, want)
	case DockerArchive:
		img, err = openDockerArchive(ref)
	case Docker:
		img, err = openRegistry(ref, want)
	default:
		err = fmt.Errorf("unknown transport %q", ref.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	img.Ref = ref
	return img, nil
}

// Close releases the image's container (an open archive file).
func (img *Image) Close() error { return img.src.Close() }

// OpenLayer opens layer i's blob as stored; the caller verifies its digest
// while reading (Unpack does).
func (img *Image) OpenLayer(i int) (io.ReadCloser, error) {
	rc, err := img.src.openBlob(img.Layers[i].Blob)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer %d blob %s: %w", img.Ref, i, img.Layers[i].Blob.Digest, err)
	}
	return rc, nil
}

// readBlob reads a whole metadata blob and checks it against its descriptor.
func readBlob(src imageSource, d ocispec.Descriptor) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("descriptor digest %q: %w", d.Digest, err)
	}
	if d.Size > maxMetadataSize {
		return nil, fmt.Errorf("blob %s: size %d exceeds the %d bytes allowed for %s", d.Digest, d.Size, maxMetadataSize, d.MediaType)
	}
	rc, err := src.openBlob(d)
	if err != nil {
		return nil, fmt.Errorf("blob %s (%s): %w", d.Digest, d.MediaType, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if err := VerifyBytes(data, d); err != nil {
		return nil, err
	}
	return data, nil
}

// VerifyBytes checks data against a descriptor's size and digest.
func VerifyBytes(data []byte, d ocispec.Descriptor) error {
	if d.Size >= 0 && int64(len(data)) != d.Size {
		return fmt.Errorf("blob %s: size is %d bytes, descriptor says %d", d.Digest, len(data), d.Size)
	}
	if got := d.Digest.Algorithm().FromBytes(data); got != d.Digest {
		return fmt.Errorf("blob %s: content digest is %s (corrupt or tampered blob)", d.Digest, got)
	}
	return nil
}

// decodeStrict unmarshals JSON metadata, naming what it was.
func decodeStrict(data []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: invalid JSON: %w", what, err)
	}
	return nil
}

// setConfig parses the image config and pairs its diff IDs with the layers.
func (img *Image) setConfig(raw []byte, blobs []ocispec.Descriptor) error {
	img.RawConfig = raw
	if err := decodeStrict(raw, &img.Config, "image config"); err != nil {
		return err
	}
	if img.Config.RootFS.Type != "layers" {
		return fmt.Errorf("image config: rootfs.type is %q, expected \"layers\"", img.Config.RootFS.Type)
	}
	ids := img.Config.RootFS.DiffIDs
	if len(ids) != len(blobs) {
		return fmt.Errorf("image config lists %d diff_ids but the manifest has %d layers", len(ids), len(blobs))
	}
	img.Layers = make([]Layer, len(blobs))
	for i, b := range blobs {
		if err := ids[i].Validate(); err != nil {
			return fmt.Errorf("image config: rootfs.diff_ids[%d] %q: %w", i, ids[i], err)
		}
		if err := b.Digest.Validate(); err != nil {
			return fmt.Errorf("manifest: layers[%d].digest %q: %w", i, b.Digest, err)
		}
		if _, err := Decompression(b.MediaType); err != nil {
			return fmt.Errorf("manifest: layers[%d] (%s): %w", i, b.Digest, err)
		}
		img.Layers[i] = Layer{Blob: b, DiffID: ids[i]}
	}
	return nil
}

package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-runtime/strata/image/ocispec"
)

// PushResult says what a push did.
type PushResult struct {
	// Manifest is the digest of the manifest pushed: img's own bytes, so
	// the same as in the source.
	Manifest ocispec.Digest
	// Uploaded and Skipped count the image's distinct blobs (layers and
	// config): sent by this push, or found already in the repository
	// (or mounted from another repository of the registry).
	Uploaded, Skipped int
}

// Push writes img (from Open: an OCI layout, an oci-archive or a
// docker-archive) to the registry repository and tag dest names, through
// go-containerregistry's remote writer, with the credentials and the
// plain-HTTP rules a pull has (keychain, registryOptions). Each blob is
// first asked for with a HEAD: the ones the repository already has are not
// sent again. The manifest is pushed as the image holds it, byte for byte,
// so its digest stays. progress, if not nil, gets one line per blob sent.
//
// This is the push step of any command that ends at a registry: `strata
// push`, and a build's output pushed once it is written.
func Push(img *Image, dest Ref, progress io.Writer) (*PushResult, error) {
	if dest.Transport != Docker {
		return nil, fmt.Errorf("push to %s: the destination must be a registry, docker://HOST/REPO[:TAG]", dest)
	}
	ref, err := dest.registryRef()
	if err != nil {
		return nil, fmt.Errorf("push to %s: %w", dest, err)
	}
	src := &pushImage{img: img, progress: progress, sent: map[ocispec.Digest]bool{}}
	v1img, err := partial.CompressedToImage(src)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", img.Ref, err)
	}
	opts := append(registryOptions(ref.Context().Registry, dest.Insecure),
		remote.WithJobs(RegistryJobs), remote.WithContext(context.Background()))
	if err := remote.Write(ref, v1img, opts...); err != nil {
		return nil, fmt.Errorf("push %s to %s: %w", img.Ref, dest, describeRegistryError(ref.Context(), "upload of manifest "+img.ManifestDigest.String(), err))
	}
	blobs := map[ocispec.Digest]bool{img.Manifest.Config.Digest: true}
	for _, l := range img.Layers {
		blobs[l.Blob.Digest] = true
	}
	uploaded := src.uploaded()
	return &PushResult{Manifest: img.ManifestDigest, Uploaded: uploaded, Skipped: len(blobs) - uploaded}, nil
}

// pushImage shows an Image to go-containerregistry as the compressed image
// it is: the manifest and config as read, and each blob opened from the
// image's own container only if the writer finds the registry lacks it,
// which is how the blobs sent are counted.
type pushImage struct {
	img      *Image
	progress io.Writer

	mu   sync.Mutex
	sent map[ocispec.Digest]bool
}

func (p *pushImage) RawManifest() ([]byte, error)   { return p.img.RawManifest, nil }
func (p *pushImage) RawConfigFile() ([]byte, error) { return p.img.RawConfig, nil }

// MediaType is the manifest's own; an OCI manifest may leave it out.
func (p *pushImage) MediaType() (types.MediaType, error) {
	if mt := p.img.Manifest.MediaType; mt != "" {
		return types.MediaType(mt), nil
	}
	return types.OCIManifestSchema1, nil
}

// ConfigLayer is the config as a blob to send, so that it is counted too
// (go-containerregistry looks for this method before making its own).
func (p *pushImage) ConfigLayer() (v1.Layer, error) {
	return partial.CompressedToLayer(&pushBlob{p: p, d: p.img.Manifest.Config})
}

func (p *pushImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range p.img.Layers {
		if l.Blob.Digest.String() == h.String() {
			return &pushBlob{p: p, d: l.Blob}, nil
		}
	}
	return nil, fmt.Errorf("image %s: the manifest names no layer %s", p.img.Ref, h)
}

func (p *pushImage) uploaded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

// pushBlob is one blob of the image, opened only when it is sent.
type pushBlob struct {
	p *pushImage
	d ocispec.Descriptor
}

func (b *pushBlob) Digest() (v1.Hash, error)            { return v1.NewHash(b.d.Digest.String()) }
func (b *pushBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *pushBlob) MediaType() (types.MediaType, error) { return types.MediaType(b.d.MediaType), nil }

// Compressed opens the blob as stored; the registry checks its digest
// when the upload is committed, and refuses a blob that does not match.
func (b *pushBlob) Compressed() (io.ReadCloser, error) {
	var rc io.ReadCloser
	if b.d.Digest == b.p.img.Manifest.Config.Digest {
		rc = io.NopCloser(bytes.NewReader(b.p.img.RawConfig))
	} else {
		var err error
		if rc, err = b.p.img.src.openBlob(b.d); err != nil {
			return nil, fmt.Errorf("image %s: blob %s: %w", b.p.img.Ref, b.d.Digest, err)
		}
	}
	b.p.mu.Lock()
	first := !b.p.sent[b.d.Digest]
	b.p.sent[b.d.Digest] = true
	b.p.mu.Unlock()
	if first && b.p.progress != nil {
		fmt.Fprintf(b.p.progress, "uploading blob %s (%d bytes)\n", b.d.Digest, b.d.Size)
	}
	return rc, nil
}

var _ partial.CompressedImageCore = (*pushImage)(nil)

package image

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-runtime/strata/image/ocispec"
)

// RegistryJobs is how many layers of one image are fetched at once.
const RegistryJobs = 4

// registrySource reads one repository's manifests and blobs over the
// distribution API. go-containerregistry speaks the protocol (the /v2/ ping,
// token exchange, credentials, retries); its Puller keeps one authenticated
// transport per repository, so the token is fetched once per image, not per
// blob.
type registrySource struct {
	repo   name.Repository
	puller *remote.Puller // manifests
	blobs  *blobClient    // configs and layers
	// The manifest or index the reference resolved to, already read: the
	// resolution (by tag) is what told its digest.
	top    ocispec.Descriptor
	topRaw []byte
}

// parseDockerRef checks a docker:// reference (the part after the scheme)
// with go-containerregistry's parser, the one its requests are made from.
func parseDockerRef(s, rest string) (Ref, error) {
	if _, err := name.ParseReference(rest); err != nil {
		return Ref{}, fmt.Errorf("image reference %q: expected docker://HOST/REPO[:TAG] or docker://HOST/REPO@sha256:HEX: %w", s, err)
	}
	return Ref{Transport: Docker, Path: rest}, nil
}

// registryRef is a docker:// reference as go-containerregistry names it;
// an insecure one may be reached over plain HTTP.
func (r Ref) registryRef() (name.Reference, error) {
	var opts []name.Option
	if r.Insecure {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(r.Path, opts...)
}

// openRegistry resolves ref at its registry to one image manifest, choosing
// from a manifest list or OCI index by platform, as for OCI layouts.
func openRegistry(ref Ref, want ocispec.Platform) (*Image, error) {
	r, err := ref.registryRef()
	if err != nil {
		return nil, err
	}
	src, err := newRegistrySource(r.Context(), ref.Insecure)
	if err != nil {
		return nil, err
	}
	desc, err := src.puller.Get(context.Background(), r)
	if err != nil {
		what := "manifest " + r.Identifier()
		if _, isTag := r.(name.Tag); isTag {
			what = fmt.Sprintf("tag %q", r.Identifier())
		}
		return nil, describeRegistryError(r.Context(), what, err)
	}
	d := ocispec.Descriptor{
		MediaType: string(desc.MediaType),
		Digest:    ocispec.Digest(desc.Digest.String()),
		Size:      desc.Size,
	}
	src.top, src.topRaw = d, desc.Manifest
	switch d.MediaType {
	case ocispec.MediaTypeImageManifest, dockerManifest:
	case ocispec.MediaTypeImageIndex, dockerManifestList:
		if d, err = pickDescriptor(src, []ocispec.Descriptor{d}, want, r.Name(), 0); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s is a %q, not an image manifest, manifest list or OCI index (schema 1 manifests are not supported)", r.Name(), d.MediaType)
	}
	return loadManifest(src, d)
}

func newRegistrySource(repo name.Repository, insecure bool) (*registrySource, error) {
	puller, err := remote.NewPuller(registryOptions(repo.Registry, insecure)...)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", repo.RegistryStr(), err)
	}
	return &registrySource{repo: repo, puller: puller, blobs: &blobClient{repo: repo, insecure: insecure}}, nil
}

// registryOptions are how strata talks to a registry, pulling or pushing:
// its transport (plain HTTP only where allowed), the credentials of the
// keychain, a short retry and strata's user agent.
func registryOptions(reg name.Registry, insecure bool) []remote.Option {
	return []remote.Option{
		remote.WithTransport(registryTransport(reg, insecure)),
		remote.WithAuthFromKeychain(keychain),
		remote.WithRetryBackoff(registryBackoff),
		remote.WithUserAgent("strata"),
	}
}

// openBlob fetches a manifest (by its media type) or a blob by digest. The
// caller verifies the stream as it reads it (readBlob, UnpackLayer), and
// keeps nothing before that.
func (s *registrySource) openBlob(d ocispec.Descriptor) (io.ReadCloser, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", d.Digest, err)
	}
	if d.Digest == s.top.Digest {
		return io.NopCloser(bytes.NewReader(s.topRaw)), nil
	}
	ref := s.repo.Digest(d.Digest.String())
	switch d.MediaType {
	case ocispec.MediaTypeImageManifest, dockerManifest, ocispec.MediaTypeImageIndex, dockerManifestList:
		desc, err := s.puller.Get(context.Background(), ref)
		if err != nil {
			return nil, describeRegistryError(s.repo, "manifest "+d.Digest.String(), err)
		}
		return io.NopCloser(bytes.NewReader(desc.Manifest)), nil
	}
	return s.blobs.open(d)
}

func (s *registrySource) Close() error { return nil }

// RegistryHost is the HOST[:PORT] of a docker:// reference's registry (as
// go-containerregistry names it: index.docker.io when the reference has none).
func (r Ref) RegistryHost() string {
	if r.Transport != Docker {
		return ""
	}
	ref, err := name.ParseReference(r.Path)
	if err != nil {
		return ""
	}
	return ref.Context().RegistryStr()
}

package image

import (
	"fmt"
	"io"
	"strings"

	"github.com/strata-runtime/strata/image/ocispec"
)

// Media types from other specs that an OCI layout may hold (skopeo keeps
// docker schema2 manifests as they are when copying).
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig       = "application/vnd.docker.container.image.v1+json"
)

// maxIndexDepth bounds nested indexes, which a hostile layout could make circular.
const maxIndexDepth = 4

// ociSource reads blobs from an image layout, on disk or in a tar archive.
type ociSource struct{ c container }

func (s *ociSource) openBlob(d ocispec.Descriptor) (io.ReadCloser, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", d.Digest, err)
	}
	rc, err := s.c.Open("blobs/" + d.Digest.Algorithm().String() + "/" + d.Digest.Encoded())
	if err != nil {
		return nil, fmt.Errorf("manifest names blob %s, which is missing from the layout: %w", d.Digest, err)
	}
	return rc, nil
}

func (s *ociSource) Close() error { return s.c.Close() }

func openOCI(ref Ref, want ocispec.Platform) (*Image, error) {
	var c container
	var err error
	if ref.Transport == OCIArchive {
		c, err = openTar(ref.Path)
	} else {
		c, err = openDir(ref.Path)
	}
	if err != nil {
		return nil, err
	}
	src := &ociSource{c: c}
	img, err := resolveOCI(src, ref.Tag, want)
	if err != nil {
		src.Close()
		return nil, err
	}
	return img, nil
}

func resolveOCI(src *ociSource, tag string, want ocispec.Platform) (*Image, error) {
	rc, err := src.c.Open("index.json")
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxMetadataSize))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var index ocispec.Index
	if err := decodeStrict(raw, &index, "index.json"); err != nil {
		return nil, err
	}
	candidates := index.Manifests
	if tag != "" {
		candidates = nil
		for _, m := range index.Manifests {
			if m.Annotations[ocispec.AnnotationRefName] == tag {
				candidates = append(candidates, m)
			}
		}
		if len(candidates) == 0 {
			return nil, fmt.Errorf("index.json has no manifest tagged %q (tags: %s)", tag, tagList(index))
		}
	}
	if tag == "" {
		if err := unambiguous(candidates, want, index); err != nil {
			return nil, err
		}
	}
	d, err := pickDescriptor(src, candidates, want, "index.json", 0)
	if err != nil {
		return nil, err
	}
	return loadManifest(src, d)
}

// unambiguous refuses a layout holding several images when no tag says which
// one is meant. A platform tells images apart only when each names its own;
// otherwise (entries without a platform, or two for the wanted one) only a
// tag can, so the error offers the tags rather than --platform.
func unambiguous(ds []ocispec.Descriptor, want ocispec.Platform, index ocispec.Index) error {
	if len(ds) < 2 {
		return nil
	}
	matching, unplatformed := 0, 0
	for _, m := range ds {
		if m.Platform == nil {
			unplatformed++
		} else if platformMatches(m.Platform, want) {
			matching++
		}
	}
	if unplatformed == 0 && matching <= 1 {
		return nil // a platform choice, made (or refused) by pickDescriptor
	}
	how := "name one with a tag, oci:DIR:TAG (tags: " + tagList(index) + ")"
	if len(tags(index)) == 0 {
		how = "none is tagged: tag the one wanted (umoci tag, or skopeo copy to oci:DIR:TAG) and name the tag"
	}
	return fmt.Errorf("index.json holds %d images and the reference names no tag (%d without a platform, %d for %s): %s",
		len(ds), unplatformed, matching, formatPlatform(&want), how)
}

func tags(index ocispec.Index) []string {
	var out []string
	for _, m := range index.Manifests {
		if t := m.Annotations[ocispec.AnnotationRefName]; t != "" {
			out = append(out, t)
		}
	}
	return out
}

// tagList is tags for an error message.
func tagList(index ocispec.Index) string {
	if t := tags(index); len(t) > 0 {
		return strings.Join(t, ", ")
	}
	return "none"
}

// pickDescriptor narrows index entries to one image manifest, descending into
// nested indexes and choosing by platform where there is a choice.
func pickDescriptor(src imageSource, ds []ocispec.Descriptor, want ocispec.Platform, where string, depth int) (ocispec.Descriptor, error) {
	if depth > maxIndexDepth {
		return ocispec.Descriptor{}, fmt.Errorf("%s: indexes nested deeper than %d", where, maxIndexDepth)
	}
	if len(ds) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("%s lists no manifests", where)
	}
	d := ds[0]
	if len(ds) > 1 {
		var found []ocispec.Descriptor
		var seen []string
		for _, m := range ds {
			seen = append(seen, formatPlatform(m.Platform))
			if platformMatches(m.Platform, want) {
				found = append(found, m)
			}
		}
		if len(found) == 0 {
			return ocispec.Descriptor{}, fmt.Errorf("%s has no manifest for platform %s (has: %s); choose one with --platform or a tag",
				where, formatPlatform(&want), strings.Join(seen, ", "))
		}
		d = found[0]
	}
	switch d.MediaType {
	case ocispec.MediaTypeImageManifest, dockerManifest:
		return d, nil
	case ocispec.MediaTypeImageIndex, dockerManifestList:
		raw, err := readBlob(src, d)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: index %s: %w", where, d.Digest, err)
		}
		var index ocispec.Index
		if err := decodeStrict(raw, &index, "image index "+d.Digest.String()); err != nil {
			return ocispec.Descriptor{}, err
		}
		return pickDescriptor(src, index.Manifests, want, "image index "+d.Digest.String(), depth+1)
	default:
		return ocispec.Descriptor{}, fmt.Errorf("%s: entry %s has unknown media type %q (expected an image manifest or index)", where, d.Digest, d.MediaType)
	}
}

func loadManifest(src imageSource, d ocispec.Descriptor) (*Image, error) {
	raw, err := readBlob(src, d)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	img := &Image{ManifestDigest: d.Digest, RawManifest: raw, src: src}
	what := "manifest " + d.Digest.String()
	if err := decodeStrict(raw, &img.Manifest, what); err != nil {
		return nil, err
	}
	switch img.Manifest.Config.MediaType {
	case ocispec.MediaTypeImageConfig, dockerConfig:
	default:
		return nil, fmt.Errorf("%s: config has media type %q, not an image config (%s)", what, img.Manifest.Config.MediaType, ocispec.MediaTypeImageConfig)
	}
	rawConfig, err := readBlob(src, img.Manifest.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", what, err)
	}
	if err := img.setConfig(rawConfig, img.Manifest.Layers); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return img, nil
}

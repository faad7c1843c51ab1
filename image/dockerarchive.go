package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/strata-runtime/strata/image/ocispec"
)

// dockerArchiveEntry is one image in a `docker save` manifest.json.
type dockerArchiveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// dockerSource maps the synthesized descriptors back to archive members.
type dockerSource struct {
	c     *tarContainer
	paths map[ocispec.Digest]string
}

func (s *dockerSource) openBlob(d ocispec.Descriptor) (io.ReadCloser, error) {
	p, ok := s.paths[d.Digest]
	if !ok {
		return nil, fmt.Errorf("no member of the archive holds blob %s", d.Digest)
	}
	rc, err := s.c.Open(p)
	if err != nil {
		return nil, fmt.Errorf("archive member %s: %w", p, err)
	}
	return rc, nil
}

func (s *dockerSource) Close() error { return s.c.Close() }

func openDockerArchive(ref Ref) (*Image, error) {
	c, err := openTar(ref.Path)
	if err != nil {
		return nil, err
	}
	src := &dockerSource{c: c, paths: map[ocispec.Digest]string{}}
	img, err := resolveDockerArchive(src, ref.Tag)
	if err != nil {
		c.Close()
		return nil, err
	}
	return img, nil
}

func resolveDockerArchive(src *dockerSource, tag string) (*Image, error) {
	raw, err := readMember(src.c, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("not a docker archive: %w", err)
	}
	var entries []dockerArchiveEntry
	if err := decodeStrict(raw, &entries, "manifest.json"); err != nil {
		return nil, err
	}
	entry, err := pickDockerEntry(entries, tag)
	if err != nil {
		return nil, err
	}
	rawConfig, err := readMember(src.c, entry.Config)
	if err != nil {
		return nil, fmt.Errorf("manifest.json: config %q: %w", entry.Config, err)
	}
	configDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: ocispec.FromBytes(rawConfig), Size: int64(len(rawConfig))}
	src.paths[configDesc.Digest] = entry.Config
	var partial struct {
		RootFS ocispec.RootFS `json:"rootfs"`
	}
	if err := decodeStrict(rawConfig, &partial, "config "+entry.Config); err != nil {
		return nil, err
	}
	if len(partial.RootFS.DiffIDs) != len(entry.Layers) {
		return nil, fmt.Errorf("config %s lists %d diff_ids but manifest.json has %d layers", entry.Config, len(partial.RootFS.DiffIDs), len(entry.Layers))
	}
	blobs := make([]ocispec.Descriptor, len(entry.Layers))
	for i, p := range entry.Layers {
		d, err := dockerLayerDescriptor(src.c, p, partial.RootFS.DiffIDs[i])
		if err != nil {
			return nil, fmt.Errorf("manifest.json: layer %d %q: %w", i, p, err)
		}
		src.paths[d.Digest] = p
		blobs[i] = d
	}
	// A docker archive has no OCI manifest; synthesize the one a conversion
	// would produce so commit can extend it like any other.
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: configDesc, Layers: blobs}
	m.SchemaVersion = 2
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	img := &Image{ManifestDigest: ocispec.FromBytes(rawManifest), Manifest: m, RawManifest: rawManifest, src: src}
	if err := img.setConfig(rawConfig, blobs); err != nil {
		return nil, fmt.Errorf("config %s: %w", entry.Config, err)
	}
	return img, nil
}

func pickDockerEntry(entries []dockerArchiveEntry, tag string) (dockerArchiveEntry, error) {
	if tag == "" {
		if len(entries) != 1 {
			return dockerArchiveEntry{}, fmt.Errorf("manifest.json holds %d images; name one as docker-archive:FILE:NAME:TAG", len(entries))
		}
		return entries[0], nil
	}
	var all []string
	for _, e := range entries {
		for _, t := range e.RepoTags {
			if normalizeDockerTag(t) == normalizeDockerTag(tag) {
				return e, nil
			}
			all = append(all, t)
		}
	}
	return dockerArchiveEntry{}, fmt.Errorf("manifest.json has no image tagged %q (tags: %s)", tag, strings.Join(all, ", "))
}

// normalizeDockerTag makes "busybox:latest" and "docker.io/library/busybox:latest" equal.
func normalizeDockerTag(t string) string {
	for _, p := range []string{"docker.io/library/", "docker.io/", "localhost/"} {
		t = strings.TrimPrefix(t, p)
	}
	return t
}

// dockerLayerDescriptor describes a layer member. `docker save` writes plain
// tars, whose digest is the diff ID; newer versions may write compressed blobs
// under blobs/ALG/HEX, whose digest is their name.
func dockerLayerDescriptor(c *tarContainer, p string, diffID ocispec.Digest) (ocispec.Descriptor, error) {
	rc, err := c.Open(p)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer rc.Close()
	size := rc.(interface{ Size() int64 })
	head := make([]byte, 4)
	n, _ := io.ReadFull(rc, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		d, err := digestFromBlobPath(p)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: size.Size()}, err
	case bytes.Equal(head, zstdMagic):
		d, err := digestFromBlobPath(p)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerZstd, Digest: d, Size: size.Size()}, err
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: size.Size()}, nil
}

func digestFromBlobPath(p string) (ocispec.Digest, error) {
	dir, hex := path.Split(archiveName(p))
	d := ocispec.FromEncoded(ocispec.Algorithm(path.Base(dir)), hex)
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("compressed layer whose name %q is not blobs/ALG/HEX, so its digest is unknown", p)
	}
	return d, nil
}

func readMember(c *tarContainer, name string) ([]byte, error) {
	rc, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxMetadataSize))
}

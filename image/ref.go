package image

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Transport names the container an image is read from or written to.
type Transport string

const (
	// OCILayout is a directory holding an OCI image layout (image-layout.md).
	OCILayout Transport = "oci"
	// OCIArchive is a tar archive of an OCI image layout.
	OCIArchive Transport = "oci-archive"
	// DockerArchive is the `docker save` format: manifest.json, configs and layer tars.
	DockerArchive Transport = "docker-archive"
	// Docker is a registry speaking the distribution API: docker://HOST/REPO[:TAG|@DIGEST].
	Docker Transport = "docker"
)

// Ref is a parsed image reference such as "oci:/images/busybox:latest".
type Ref struct {
	Transport Transport
	Path      string
	// Tag selects an image inside the container: the org.opencontainers.image.ref.name
	// annotation for OCI layouts, a RepoTags entry ("name:tag") for docker archives.
	// Empty means "the only image there is".
	Tag string
	// Insecure lets a Docker reference's registry be reached over plain
	// HTTP or with an unverified certificate (--insecure-registry); a
	// loopback registry needs no such permission.
	Insecure bool
}

func (r Ref) String() string {
	if r.Transport == Docker {
		return "docker://" + r.Path
	}
	if r.Tag == "" {
		return string(r.Transport) + ":" + r.Path
	}
	return string(r.Transport) + ":" + r.Path + ":" + r.Tag
}

// ParseRef parses TRANSPORT:PATH[:TAG]. The path may not contain a colon, as
// in skopeo's syntax; for docker-archive the tag is NAME:TAG, so everything
// after the path is the tag. docker://HOST/REPO[:TAG|@DIGEST] keeps the
// registry reference whole in Path (parseDockerRef checks it).
func ParseRef(s string) (Ref, error) {
	if rest, ok := strings.CutPrefix(s, "docker://"); ok {
		return parseDockerRef(s, rest)
	}
	transport, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Ref{}, fmt.Errorf("image reference %q: expected oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://HOST/REPO[:TAG|@DIGEST]", s)
	}
	r := Ref{Transport: Transport(transport)}
	switch r.Transport {
	case OCILayout, OCIArchive, DockerArchive:
	default:
		return Ref{}, fmt.Errorf("image reference %q: unknown transport %q (expected oci, oci-archive, docker-archive or docker://)", s, transport)
	}
	r.Path, r.Tag, _ = strings.Cut(rest, ":")
	if r.Path == "" {
		return Ref{}, fmt.Errorf("image reference %q: empty path", s)
	}
	if r.Transport == DockerArchive && r.Tag != "" && !strings.Contains(r.Tag, ":") {
		return Ref{}, fmt.Errorf("image reference %q: docker-archive tag %q must be NAME:TAG", s, r.Tag)
	}
	return r, nil
}

// Abs returns the reference with its path made absolute, so that a record of
// it means the same image from any working directory.
func (r Ref) Abs() (Ref, error) {
	if r.Transport == Docker {
		return r, nil // a registry reference names no local path
	}
	p, err := filepath.Abs(r.Path)
	if err != nil {
		return Ref{}, fmt.Errorf("image reference %s: %w", r, err)
	}
	r.Path = p
	return r, nil
}

// Package ocispec holds the OCI image-format documents strata reads and
// writes (descriptors, manifests, indexes, image configs, layouts) and their
// digests, as the image spec (v1.1) defines them.
//
// strata declares them itself instead of importing image-spec's specs-go/v1:
// that package imports go-digest, whose initialiser compiles five regexps
// (about 0.2 ms and 840 allocations), and every strata start, the runtime
// commands and the container init included, runs the initialiser of every
// package linked into the binary. The image side is linked for `strata
// bundle` only; it must cost the other commands nothing.
//
// The documents strata rewrites (index.json, descriptors in it, manifests)
// keep every field the spec defines, in the spec's order, so a round trip
// loses nothing and writes the bytes image-spec's types would. The image
// config is only read (commit edits it as raw JSON): Image and ImageConfig
// hold the fields strata uses.
package ocispec

import "time"

// Media types (image-spec media-types.md).
const (
	MediaTypeDescriptor  = "application/vnd.oci.descriptor.v1+json"
	MediaTypeImageLayout = "application/vnd.oci.layout.header.v1+json"

	MediaTypeImageIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeImageManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeImageConfig   = "application/vnd.oci.image.config.v1+json"

	MediaTypeImageLayer     = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeImageLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeImageLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"

	// Non-distributable layers are deprecated, but old images have them.
	MediaTypeImageLayerNonDistributable     = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	MediaTypeImageLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	MediaTypeImageLayerNonDistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
)

// AnnotationRefName is the annotation naming a manifest in an index: the tag.
const AnnotationRefName = "org.opencontainers.image.ref.name"

// Image layouts (image-layout.md).
const (
	ImageLayoutFile    = "oci-layout"
	ImageLayoutVersion = "1.0.0"
)

// ImageLayout is the content of a layout's oci-layout file.
type ImageLayout struct {
	Version string `json:"imageLayoutVersion"`
}

// Descriptor points at content by media type, digest and size
// (descriptor.md).
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       Digest            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Data         []byte            `json:"data,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

// Platform is what an image runs on (image-index.md).
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

// Manifest is one image: its config and layers, bottom first (manifest.md).
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Index lists manifests, per platform or per tag (image-index.md).
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Image is an image config (config.md), the fields strata reads.
type Image struct {
	Created *time.Time `json:"created,omitempty"`
	Author  string     `json:"author,omitempty"`
	Platform
	Config  ImageConfig `json:"config,omitempty"`
	RootFS  RootFS      `json:"rootfs"`
	History []History   `json:"history,omitempty"`
}

// ImageConfig is the config's defaults for a container (config.md's
// "config"), the fields strata reads.
type ImageConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

// RootFS lists the diff IDs (digests of the uncompressed layers), bottom
// first.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []Digest `json:"diff_ids"`
}

// History describes how a layer was made.
type History struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

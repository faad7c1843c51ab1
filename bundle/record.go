// Package bundle turns images into OCI runtime bundles: the layers from the
// image store composed with overlayfs (or flattened with --copy) on the
// bundle's rootfs, and a config.json converted from the image config.
package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/image/ocispec"
)

// RecordFile names the bundle's record, next to config.json. Runtimes ignore it.
const RecordFile = "strata-bundle.json"

// Bundle subdirectories: the mount point and overlay's writable layer and
// scratch directory (which must be on the same filesystem as upper).
const (
	rootfsDir = "rootfs"
	upperDir  = "upper"
	workDir   = "work"
	// emptyDir is the lower directory of an image without layers (FROM
	// scratch): overlayfs needs at least one.
	emptyDir = "empty"
)

// Record says what a bundle was made from and which store layers it uses, so
// rm, mount, diff, commit and gc need nothing but the bundle directory.
type Record struct {
	Store    string           `json:"store"`
	Image    string           `json:"image"`
	Platform string           `json:"platform,omitempty"`
	Manifest ocispec.Digest   `json:"manifest"`
	Config   ocispec.Digest   `json:"config"`
	Layers   []ocispec.Digest `json:"layers"` // diff IDs, bottom layer first
	Copy     bool             `json:"copy,omitempty"`
	// UIDMappings and GIDMappings, for a bundle with a user namespace,
	// are those of its config.json: the layers are mounted idmapped
	// through them, on every mount (create, and mount after a reboot).
	UIDMappings []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
	GIDMappings []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
	// Rootless: made by a normal user in the user's namespace
	// (rootless.go); the runtime mounts the rootfs.
	Rootless bool      `json:"rootless,omitempty"`
	Created  time.Time `json:"created"`
}

// ReadRecord loads the record of the bundle at dir.
func ReadRecord(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a bundle made by strata bundle create (no %s)", dir, RecordFile)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, RecordFile), err)
	}
	return &r, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

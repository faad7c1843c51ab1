package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/tests/rootfs"
)

// goParts are the parts of the Go distribution the pull image carries, one
// layer each on top of busybox: sources (many small files), tools and
// binaries (a few large ones).
var goParts = []string{"/usr/local/go/src", "/usr/local/go/pkg/tool", "/usr/local/go/bin", "/usr/local/go/lib"}

// imageLayout makes an OCI layout DIR holding tag 1: the busybox test rootfs
// as the first layer (umoci raw add-layer), then one layer per directory in
// extra, each at its own path (umoci insert), gzip, with sh as the command.
func (b *bench) imageLayout(name string, extra []string) (layout string, files int, err error) {
	busybox := filepath.Join(b.dir, "busybox-rootfs")
	if _, err := os.Stat(busybox); os.IsNotExist(err) {
		if err := rootfs.Build(busybox); err != nil {
			return "", 0, fmt.Errorf("building the busybox rootfs: %w", err)
		}
	}
	// The busybox layer is GNU tar's of "." (umoci raw add-layer), the
	// way images are usually made; the other layers are umoci insert's.
	busyboxTar := filepath.Join(b.dir, name+"-busybox.tar")
	if _, err := run(nil, "tar", "-C", busybox, "--numeric-owner", "-cf", busyboxTar, "."); err != nil {
		return "", 0, err
	}
	defer os.Remove(busyboxTar)
	layout = filepath.Join(b.dir, name)
	img := layout + ":1"
	steps := [][]string{{"init", "--layout", layout}, {"new", "--image", img}, {"raw", "add-layer", "--image", img, busyboxTar}}
	for _, d := range extra {
		steps = append(steps, []string{"insert", "--image", img, d, d})
	}
	steps = append(steps, []string{"config", "--image", img, "--config.cmd", "sh"})
	for _, s := range steps {
		if _, err := run(nil, b.umoci, s...); err != nil {
			return "", 0, err
		}
	}
	for _, d := range append([]string{busybox}, extra...) {
		n, err := countFiles(d)
		if err != nil {
			return "", 0, err
		}
		files += n
	}
	return layout, files, nil
}

func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, _ fs.DirEntry, err error) error {
		n++
		return err
	})
	return n, err
}

// layerBytes sums the sizes of the layer blobs tag 1 of a layout names.
func layerBytes(layout string) (layers int, size int64, err error) {
	var index v1.Index
	if err := readJSON(filepath.Join(layout, "index.json"), &index); err != nil {
		return 0, 0, err
	}
	for _, d := range index.Manifests {
		if d.Annotations[v1.AnnotationRefName] != "1" {
			continue
		}
		var m v1.Manifest
		if err := readJSON(filepath.Join(layout, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()), &m); err != nil {
			return 0, 0, err
		}
		for _, l := range m.Layers {
			size += l.Size
		}
		return len(m.Layers), size, nil
	}
	return 0, 0, fmt.Errorf("%s: no manifest tagged 1", layout)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

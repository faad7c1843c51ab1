package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pullItem makes the 5-layer image, starts the registry, pushes the image
// into it with skopeo and returns the pull item: strata against skopeo +
// umoci, each into directories of its own that are removed after every
// repetition, so every pull starts with nothing of the image on the host
// but the registry's storage.
func (b *bench) pullItem() (*item, error) {
	layout, files, err := b.imageLayout("pull-image", goParts)
	if err != nil {
		return nil, err
	}
	layers, size, err := layerBytes(layout)
	if err != nil {
		return nil, err
	}
	addr, err := b.startRegistry()
	if err != nil {
		return nil, err
	}
	ref := "docker://" + addr + "/bench/pull:1"
	if _, err := run(nil, b.skopeo, "copy", "--quiet", "--dest-tls-verify=false", "oci:"+layout+":1", ref); err != nil {
		return nil, err
	}
	// The layout was only the way into the registry.
	if err := os.RemoveAll(layout); err != nil {
		return nil, err
	}
	b.facts = append(b.facts, fmt.Sprintf("Pull image: busybox, then %s, one layer each (%d layers, %.1f MB of gzip blobs written by umoci, %d files and directories), pushed by skopeo to docker-registry on %s.",
		strings.Join(goParts, ", "), layers, float64(size)/1e6, files, addr))

	strataPull := &tool{name: "strata", measure: func(rep int) (map[string]float64, error) {
		dir := filepath.Join(b.dir, fmt.Sprintf("pull-strata-%d", rep))
		defer removeDir(dir)
		bundle := filepath.Join(dir, "bundle")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := b.settle(); err != nil {
			return nil, err
		}
		cmd, err := timed(nil, b.strata, "bundle", "create", ref, bundle, "--store", filepath.Join(dir, "store"))
		if err != nil {
			return nil, err
		}
		synced := cmd + syncTime()
		if _, err := run(nil, b.strata, "bundle", "rm", bundle); err != nil {
			return nil, err
		}
		return map[string]float64{"cmd": cmd, "synced": synced}, nil
	}}
	peerPull := &tool{name: "skopeo+umoci", measure: func(rep int) (map[string]float64, error) {
		dir := filepath.Join(b.dir, fmt.Sprintf("pull-umoci-%d", rep))
		defer removeDir(dir)
		oci := filepath.Join(dir, "oci")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := b.settle(); err != nil {
			return nil, err
		}
		copyTime, err := timed(nil, b.skopeo, "copy", "--quiet", "--src-tls-verify=false", ref, "oci:"+oci+":1")
		if err != nil {
			return nil, err
		}
		unpackTime, err := timed(nil, b.umoci, "unpack", "--image", oci+":1", filepath.Join(dir, "bundle"))
		if err != nil {
			return nil, err
		}
		cmd := copyTime + unpackTime
		return map[string]float64{"cmd": cmd, "synced": cmd + syncTime(), "skopeo": copyTime, "umoci": unpackTime}, nil
	}}
	return &item{
		name:  "pull",
		tools: []*tool{strataPull, peerPull},
		rows: []row{
			{"pull into an empty store: `strata bundle create docker://… B` vs `skopeo copy docker://… oci:D:1` + `umoci unpack --image D:1 B`",
				figure{"strata", "cmd"}, figure{"skopeo+umoci", "cmd"}},
			{"… of which `skopeo copy`", figure{}, figure{"skopeo+umoci", "skopeo"}},
			{"… of which `umoci unpack`", figure{}, figure{"skopeo+umoci", "umoci"}},
			{"pull until on disk (the same + the `sync` right after)", figure{"strata", "synced"}, figure{"skopeo+umoci", "synced"}},
		},
	}, nil
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// changeScript makes the change both containers commit, about 85 MB in
// /change: three large files (incompressible, numbers, log-like text) and
// 6000 small text files of 4 KB in 60 directories. Busybox sh, dd, seq and
// awk only, so it runs the same in both.
const changeScript = `set -e
mkdir /change
cd /change
dd if=/dev/urandom of=random.bin bs=1M count=24 2>/dev/null
seq 1 2800000 > numbers.txt
awk 'BEGIN { for (i = 0; i < 300000; i++) printf "line %d of a text file that compresses as logs do\n", i }' > log.txt
mkdir small
awk 'BEGIN { for (i = 0; i < 6000; i++) { d = sprintf("small/%02d", i % 60); if (i < 60) system("mkdir " d)
  f = sprintf("%s/f%05d", d, i); for (j = 0; j < 64; j++) printf "file %d line %d: the quick brown fox jumps over the dog\n", i, j > f; close(f) } }'
`

// commitItem starts a strata container and a podman container from the same
// busybox image, makes the change in each (exec), and returns the commit
// item: strata with gzip and uncompressed layers against podman.
func (b *bench) commitItem() (*item, error) {
	layout, _, err := b.imageLayout("commit-image", nil)
	if err != nil {
		return nil, err
	}
	bundle, strataExec, err := b.strataContainer(layout)
	if err != nil {
		return nil, err
	}
	p, err := b.podmanContainer(layout)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name string
		exec func(args ...string) (string, error)
	}{{"strata", strataExec}, {"podman", p.exec}} {
		if _, err := c.exec("sh", "-c", changeScript); err != nil {
			return nil, fmt.Errorf("the change in the %s container: %w", c.name, err)
		}
		du, err := c.exec("du", "-sk", "/change")
		if err != nil {
			return nil, err
		}
		kb, _, _ := strings.Cut(du, "\t")
		b.facts = append(b.facts, fmt.Sprintf("The change in the %s container: %s KiB in /change (`du -sk`).", c.name, kb))
	}

	strataCommit := func(compress string) *tool {
		name := "strata-" + compress
		return &tool{name: name, measure: func(rep int) (map[string]float64, error) {
			target := filepath.Join(b.dir, fmt.Sprintf("commit-%s-%d", name, rep))
			defer removeDir(target)
			if err := b.settle(); err != nil {
				return nil, err
			}
			cmd, err := timed(nil, b.strata, "bundle", "commit", bundle, "--image", "oci:"+target+":1", "--compress", compress)
			if err != nil {
				return nil, err
			}
			synced := cmd + syncTime()
			if rep == 0 {
				size, err := largestBlob(target)
				if err != nil {
					return nil, err
				}
				b.facts = append(b.facts, fmt.Sprintf("strata's committed layer with --compress %s: %.1f MB.", compress, float64(size)/1e6))
			}
			return map[string]float64{"cmd": cmd, "synced": synced}, nil
		}}
	}
	podmanCommit := &tool{name: "podman", measure: func(rep int) (map[string]float64, error) {
		if err := b.settle(); err != nil {
			return nil, err
		}
		image := fmt.Sprintf("localhost/bench/commit:%d", rep)
		cmd, err := timed(p.env, b.podman, p.args("commit", "--quiet", p.container, image)...)
		if err != nil {
			return nil, err
		}
		synced := cmd + syncTime()
		if _, err := p.run("rmi", image); err != nil {
			return nil, err
		}
		return map[string]float64{"cmd": cmd, "synced": synced}, nil
	}}
	return &item{
		name:  "commit",
		tools: []*tool{strataCommit("gzip"), strataCommit("none"), podmanCommit},
		rows: []row{
			{"commit of the change to a local image: `strata bundle commit B --image oci:D:1 --compress gzip` vs `podman commit C IMG`",
				figure{"strata-gzip", "cmd"}, figure{"podman", "cmd"}},
			{"… until on disk (+ `sync`)", figure{"strata-gzip", "synced"}, figure{"podman", "synced"}},
			{"the same with `--compress none` (podman's layer is uncompressed too)", figure{"strata-none", "cmd"}, figure{"podman", "cmd"}},
			{"… until on disk (+ `sync`)", figure{"strata-none", "synced"}, figure{"podman", "synced"}},
		},
	}, nil
}

// strataContainer makes a bundle of the image in a store of its own and runs
// a container from it (sleeping, in its own cgroup below the bench's), and
// returns the bundle and a function that execs into the container.
func (b *bench) strataContainer(layout string) (string, func(args ...string) (string, error), error) {
	bundle := filepath.Join(b.dir, "commit-bundle")
	root := filepath.Join(b.dir, "strata-state")
	id := fmt.Sprintf("bench-image-%d", os.Getpid())
	b.onCleanup(func() {
		cleanupRun(nil, b.strata, "--root", root, "delete", "--force", id)
		cleanupRun(nil, b.strata, "bundle", "rm", bundle)
	})
	if _, err := run(nil, b.strata, "bundle", "create", "oci:"+layout+":1", bundle, "--store", filepath.Join(b.dir, "commit-store"),
		"--cgroups-path", "/"+b.cgroupParent+"/strata", "--", "sleep", "1000000"); err != nil {
		return "", nil, err
	}
	if _, err := run(nil, b.strata, "--root", root, "run", "--detach", "--bundle", bundle, id); err != nil {
		return "", nil, err
	}
	return bundle, func(args ...string) (string, error) {
		return run(nil, b.strata, append([]string{"--root", root, "exec", id}, args...)...)
	}, nil
}

// largestBlob is the size of the largest blob in a layout: the layer.
func largestBlob(layout string) (int64, error) {
	entries, err := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	if err != nil {
		return 0, err
	}
	var largest int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return 0, err
		}
		largest = max(largest, info.Size())
	}
	return largest, nil
}

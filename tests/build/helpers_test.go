package build_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
	"github.com/strata-runtime/strata/tests/cgroupfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// baseImage writes the busybox-static test image into a new layout, tagged
// "base", and returns the layout directory.
func baseImage(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(shortDir(t), "base")
	imagetest.WriteLayout(t, dir, "base", imagetest.Image{
		Layers: [][]byte{imagetest.Busybox(t)},
		Config: v1.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
		// buildah --layers refuses a base whose history lists no layer.
		History: true,
	})
	return dir
}

// writeFiles creates files (path: content) under dir, with mode 0644
// unless the path is in modes.
func writeFiles(t testing.TB, dir string, files map[string]string, modes map[string]os.FileMode) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if m, ok := modes[name]; ok {
			mode = m
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// unpack flattens an image with umoci (not strata's code) into a rootfs.
func unpack(t testing.TB, layoutRef string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "unpacked")
	run(t, nil, "umoci", "unpack", "--image", layoutRef, dir)
	return filepath.Join(dir, "rootfs")
}

var mtime = regexp.MustCompile(` mtime=\d+`)

// tree describes every path of a rootfs (type, mode, owner, content or
// target, xattrs) without times: two builds run at different moments.
func tree(t testing.TB, rootfs string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, d := range imagetest.Describe(t, rootfs) {
		out[p] = mtime.ReplaceAllString(d, "")
	}
	return out
}

// diffTrees lists the paths whose descriptions differ.
func diffTrees(want, got map[string]string) []string {
	var diffs []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("only in buildah's: %s (%s)", p, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: buildah %s, strata %s", p, w, g))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("only in strata's: %s (%s)", p, g))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// imageConfig reads an image's config with skopeo (not strata's code).
func imageConfig(t testing.TB, ref string) v1.Image {
	t.Helper()
	var img v1.Image
	if err := json.Unmarshal([]byte(run(t, nil, "skopeo", "inspect", "--config", ref)), &img); err != nil {
		t.Fatalf("skopeo inspect --config %s: %v", ref, err)
	}
	return img
}

// manifestDigest is the digest index.json gives the tag, read by hand.
func manifestDigest(t testing.TB, layout, tag string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		if m.Annotations[v1.AnnotationRefName] == tag {
			return string(m.Digest)
		}
	}
	t.Fatalf("%s has no tag %q", layout, tag)
	return ""
}

// listing is every path under dir with its size, to compare a store
// before and after a failed build. Lock files under locks/ are left out:
// they are bookkeeping (opening a layer's lock may create its file), not
// content, and gc removes the free ones.
func listing(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "locks/") {
			return nil
		}
		size := info.Size()
		if info.IsDir() {
			size = 0
		}
		out = append(out, fmt.Sprintf("%s %d", rel, size))
		return nil
	})
	return out
}

// assertNoMountsUnder fails if any mount point lies under dir.
func assertNoMountsUnder(t testing.TB, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			t.Errorf("mount left under %s: %s", dir, line)
		}
	}
}

// unmountUnder detaches whatever a failed test left mounted under dir.
func unmountUnder(dir string) {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			unix.Unmount(f[4], unix.MNT_DETACH)
		}
	}
}

// workDir is a test directory that is unmounted below before removal.
func workDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { unmountUnder(dir) })
	return dir
}

// cgroupParent is where the test's RUN containers go: a cgroup of the
// test's own below testutil's parent. At the end it must have no children
// (each RUN's container removed its own) and is removed.
func cgroupParent(t testing.TB) string {
	t.Helper()
	parent := tu.CgroupParent + "/" + tu.UniqueID(t)
	t.Cleanup(func() {
		for _, h := range cgroupfs.Hierarchies() {
			dir := filepath.Join(h, parent)
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if e.IsDir() {
					t.Errorf("cgroup %s left below %s", e.Name(), dir)
					cgroupfs.Rmdir(filepath.Join(dir, e.Name()))
				}
			}
			if err := cgroupfs.Rmdir(dir); err != nil {
				t.Errorf("removing cgroup %s: %v", dir, err)
			}
		}
	})
	return parent
}

// shortDir is a new directory with a short, lower-case path: buildah names
// its container after a FROM oci: path (lower case only), and podman
// refuses a --runroot longer than 50 characters.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	return dir
}

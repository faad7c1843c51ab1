package pull_test

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/image/imagetest"
)

type E = imagetest.Entry

// testImage is an image the tests push: busybox, a layer of incompressible
// data (big enough to be caught mid-stream), and a small top layer.
type testImage struct {
	Layout   string // oci:DIR:v1 as skopeo takes it
	Manifest v1.Descriptor
	Big      v1.Descriptor // the data layer's blob
}

// bigLayerSize is the data layer's size: a few MB, so that the slow proxy
// holds it for seconds while the whole suite stays fast.
const bigLayerSize = 4 << 20

func multiLayerImage(t *testing.T, message string) testImage {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	data := make([]byte, bigLayerSize)
	rand.Read(data)
	img := imagetest.Image{
		Layers: [][]byte{
			imagetest.Busybox(t),
			imagetest.Tar(t, E{Name: "data/", Type: '5'}, E{Name: "data/random", Body: string(data)}),
			imagetest.Tar(t, E{Name: "etc/", Type: '5'}, E{Name: "etc/message", Body: message + "\n"}),
		},
		Config: v1.ImageConfig{Cmd: []string{"/bin/cat", "/etc/message"}, Env: []string{"PATH=/bin"}},
	}
	d := imagetest.WriteLayout(t, dir, "v1", img)
	m := readManifest(t, dir, d)
	return testImage{Layout: "oci:" + dir + ":v1", Manifest: d, Big: m.Layers[1]}
}

// platformIndex is an OCI index of two images, one for the host and one
// for another architecture, each saying which it is.
func platformIndex(t *testing.T) (layout string, host, other v1.Descriptor, otherPlatform string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	arch := "arm64"
	if runtime.GOARCH == "arm64" {
		arch = "amd64"
	}
	mk := func(p *v1.Platform, msg string) v1.Descriptor {
		return imagetest.WriteManifest(t, dir, imagetest.Image{
			Layers:   [][]byte{imagetest.Busybox(t), imagetest.Tar(t, E{Name: "etc/", Type: '5'}, E{Name: "etc/message", Body: msg + "\n"})},
			Config:   v1.ImageConfig{Cmd: []string{"/bin/cat", "/etc/message"}, Env: []string{"PATH=/bin"}},
			Platform: p,
		})
	}
	other = mk(&v1.Platform{OS: "linux", Architecture: arch}, "image for linux/"+arch)
	host = mk(&v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, "image for the host")
	imagetest.WriteIndex(t, dir, "v1", other, host)
	return "oci:" + dir + ":v1", host, other, "linux/" + arch
}

func readManifest(t *testing.T, dir string, d v1.Descriptor) v1.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "blobs/sha256", d.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// storeLayers lists the layers unpacked in a store (none if it does not exist).
func storeLayers(t *testing.T, store string) []string {
	t.Helper()
	return dirNames(t, filepath.Join(store, "layers/sha256"))
}

// assertStoreClean checks that a failed pull left no layer and nothing in
// the store's tmp/.
func assertStoreClean(t *testing.T, store string) {
	t.Helper()
	if l := storeLayers(t, store); len(l) != 0 {
		t.Errorf("store %s holds %d layers after a refused pull: %s", store, len(l), strings.Join(l, ", "))
	}
	if tmp := dirNames(t, filepath.Join(store, "tmp")); len(tmp) != 0 {
		t.Errorf("store %s/tmp holds %s after a refused pull", store, strings.Join(tmp, ", "))
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

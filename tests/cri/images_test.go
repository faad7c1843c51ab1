//go:build cri

package cri

import (
	"archive/tar"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specsv "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/image/imagetest"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// The images every pod of the tests uses, by the names containerd is told
// (its registry mirrors send registry.k8s.io to the test's registry).
const (
	pauseImage   = "registry.k8s.io/pause:3.9"
	busyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
)

// builtImage is an image's blobs as a registry stores them.
type builtImage struct {
	manifest, config []byte
	manifestType     string
	layers           [][]byte // compressed, as pushed
}

// buildImage makes a single-platform image (an OCI manifest) of the
// uncompressed layer tars with config.
func buildImage(t *testing.T, config v1.ImageConfig, layers ...[]byte) builtImage {
	t.Helper()
	created := imagetest.Epoch
	cfg := v1.Image{Created: &created, Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config: config, RootFS: v1.RootFS{Type: "layers"}}
	img := builtImage{manifestType: v1.MediaTypeImageManifest}
	m := v1.Manifest{Versioned: specsv.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest}
	for _, l := range layers {
		mt, blob := imagetest.Compress(t, l, "gzip")
		img.layers = append(img.layers, blob)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(blob), Size: int64(len(blob))})
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(l))
	}
	img.config = mustJSON(t, cfg)
	m.Config = v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(img.config), Size: int64(len(img.config))}
	img.manifest = mustJSON(t, m)
	return img
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goProgram builds the static program in the package pkg (./pause,
// ./webserver, ./nnp below tests/cri) into dir and returns it. Where
// CRI_PROGRAMS names a directory, the program built beforehand there
// (CGO_ENABLED=0 go build -o $CRI_PROGRAMS/ ./tests/cri/pause ...) is used
// instead: the guests of tests/vm have no Go.
func goProgram(t *testing.T, dir, pkg string) []byte {
	t.Helper()
	if prebuilt := os.Getenv("CRI_PROGRAMS"); prebuilt != "" {
		data, err := os.ReadFile(filepath.Join(prebuilt, filepath.Base(pkg)))
		if err != nil {
			t.Fatalf("CRI_PROGRAMS: %v", err)
		}
		return data
	}
	repo, err := tu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin-"+filepath.Base(pkg))
	build := exec.Command("go", "build", "-o", bin, "./tests/cri/"+pkg)
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The users and groups of the busybox image: root, nobody, and the ones
// critest's user tests expect of their images (www-data is 33, as in
// Debian's base images).
const (
	busyboxPasswd = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	busyboxGroup = "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n"
)

// busyboxLayer is the host's static busybox with a hard link per applet
// (as `busybox --list` names them; hard links as in Docker's busybox image,
// so that masking /bin/ls masks ls alone) and the files a container expects.
func busyboxLayer(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed for the test images: %v", err)
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	entries := []imagetest.Entry{{Name: "bin/", Type: tar.TypeDir}, {Name: "bin/busybox", Body: string(bb), Mode: 0o755}}
	for _, d := range []string{"etc/", "proc/", "sys/", "dev/", "var/", "var/www/", "root/"} {
		entries = append(entries, imagetest.Entry{Name: d, Type: tar.TypeDir})
	}
	entries = append(entries,
		imagetest.Entry{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		imagetest.Entry{Name: "etc/passwd", Body: busyboxPasswd},
		imagetest.Entry{Name: "etc/group", Body: busyboxGroup})
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			// The mode too: an unpacker applies a link's mode to the
			// inode it shares with busybox.
			entries = append(entries, imagetest.Entry{Name: "bin/" + a, Type: tar.TypeLink, Link: "bin/busybox", Mode: 0o755})
		}
	}
	return imagetest.Tar(t, entries...)
}

var busyboxConfig = v1.ImageConfig{
	Cmd: []string{"sh"},
	Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
}

// pushPodImages puts the pause and busybox images in the registry.
func pushPodImages(t *testing.T, dir string, reg *registry) {
	t.Helper()
	pause := imagetest.Tar(t, imagetest.Entry{Name: "pause", Body: string(goProgram(t, dir, "pause")), Mode: 0o755})
	reg.push(t, "pause", "3.9", buildImage(t, v1.ImageConfig{Entrypoint: []string{"/pause"}}, pause))
	reg.push(t, "e2e-test-images/busybox", "1.29-2", buildImage(t, busyboxConfig, busyboxLayer(t)))
}

package image

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/image/imagetest"
	"github.com/strata-runtime/strata/image/ocispec"
)

func smallImage(t *testing.T) imagetest.Image {
	return imagetest.Image{
		Layers: [][]byte{imagetest.Tar(t, E{Name: "hello", Body: "world"})},
		Config: v1.ImageConfig{Cmd: []string{"/hello"}},
	}
}

func TestOpenLayoutByTag(t *testing.T) {
	dir := t.TempDir()
	imagetest.WriteLayout(t, dir, "a", smallImage(t))
	img2 := smallImage(t)
	img2.Config.Cmd = []string{"/b"}
	want := imagetest.WriteLayout(t, dir, "b", img2)
	img, err := Open(Ref{Transport: OCILayout, Path: dir, Tag: "b"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.ManifestDigest != ocispec.Digest(want.Digest) || img.Config.Config.Cmd[0] != "/b" {
		t.Fatalf("opened manifest %s cmd %v, want %s", img.ManifestDigest, img.Config.Config.Cmd, want.Digest)
	}
	_, err = Open(Ref{Transport: OCILayout, Path: dir, Tag: "nope"}, "")
	if err == nil || !strings.Contains(err.Error(), `no manifest tagged "nope" (tags: a, b)`) {
		t.Fatalf("missing tag: %v", err)
	}
	// Without a tag, two images of no stated platform: only a tag can choose.
	_, err = Open(Ref{Transport: OCILayout, Path: dir}, "")
	if err == nil || !strings.Contains(err.Error(), "name one with a tag, oci:DIR:TAG (tags: a, b)") || strings.Contains(err.Error(), "--platform") {
		t.Fatalf("two images without a tag should be ambiguous, pointing at the tags: %v", err)
	}
}

// TestOpenUntaggedImages: a layout of several untagged images (a tool that
// adds manifests without ref names) asks for a tag, never for --platform,
// whether the entries name no platform or the same one.
func TestOpenUntaggedImages(t *testing.T) {
	host := &v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	for name, platform := range map[string]*v1.Platform{"no platform": nil, "same platform": host} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var ds []v1.Descriptor
			for _, cmd := range []string{"/a", "/b"} {
				img := smallImage(t)
				img.Config.Cmd = []string{cmd}
				d := imagetest.WriteManifest(t, dir, img)
				d.Platform = platform
				ds = append(ds, d)
			}
			writeIndexJSON(t, dir, ds)
			_, err := Open(Ref{Transport: OCILayout, Path: dir}, "")
			if err == nil || !strings.Contains(err.Error(), "index.json holds 2 images") || !strings.Contains(err.Error(), "none is tagged") || strings.Contains(err.Error(), "--platform") {
				t.Fatalf("two untagged images: %v", err)
			}
		})
	}
}

// writeIndexJSON makes dir's index.json list exactly ds, untagged.
func writeIndexJSON(t *testing.T, dir string, ds []v1.Descriptor) {
	t.Helper()
	data, err := json.Marshal(v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: ds})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "index.json"), string(data))
	writeFile(t, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
}

func TestOpenIndexPicksPlatform(t *testing.T) {
	dir := t.TempDir()
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	host := smallImage(t)
	foreign := smallImage(t)
	foreign.Config.Cmd = []string{"/foreign"}
	foreign.Platform = &v1.Platform{OS: "linux", Architecture: other}
	hd := imagetest.WriteManifest(t, dir, host)
	fd := imagetest.WriteManifest(t, dir, foreign)
	imagetest.WriteIndex(t, dir, "multi", fd, hd)
	for platform, cmd := range map[string]string{"": "/hello", "linux/" + other: "/foreign"} {
		img, err := Open(Ref{Transport: OCILayout, Path: dir, Tag: "multi"}, platform)
		if err != nil {
			t.Fatal(err)
		}
		img.Close()
		if img.Config.Config.Cmd[0] != cmd {
			t.Errorf("platform %q picked cmd %v, want %s", platform, img.Config.Config.Cmd, cmd)
		}
	}
	_, err := Open(Ref{Transport: OCILayout, Path: dir, Tag: "multi"}, "linux/s390x")
	if err == nil || !strings.Contains(err.Error(), "no manifest for platform linux/s390x") {
		t.Fatalf("unknown platform: %v", err)
	}
}

// TestOpenBadLayouts: each broken layout is a clear error naming what is wrong.
func TestOpenBadLayouts(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(t *testing.T, dir string, m v1.Descriptor)
		want    string
	}{
		{"missing config blob", func(t *testing.T, dir string, m v1.Descriptor) {
			var man v1.Manifest
			readJSON(t, blobFile(dir, m), &man)
			os.Remove(blobFile(dir, man.Config))
		}, "missing from the layout"},
		{"corrupt manifest", func(t *testing.T, dir string, m v1.Descriptor) {
			os.WriteFile(blobFile(dir, m), []byte(strings.Repeat("{", int(m.Size))), 0o644)
		}, "content digest is"},
		{"unknown config media type", func(t *testing.T, dir string, m v1.Descriptor) {
			var man v1.Manifest
			readJSON(t, blobFile(dir, m), &man)
			man.Config.MediaType = "application/vnd.example.artifact"
			d := imagetest.WriteBlob(t, dir, v1.MediaTypeImageManifest, mustJSON(t, man))
			os.Remove(filepath.Join(dir, "index.json"))
			imagetest.Tag(t, dir, "latest", d)
		}, `config has media type "application/vnd.example.artifact"`},
		{"unknown layer media type", func(t *testing.T, dir string, m v1.Descriptor) {
			var man v1.Manifest
			readJSON(t, blobFile(dir, m), &man)
			man.Layers[0].MediaType = "application/x-rar"
			d := imagetest.WriteBlob(t, dir, v1.MediaTypeImageManifest, mustJSON(t, man))
			os.Remove(filepath.Join(dir, "index.json"))
			imagetest.Tag(t, dir, "latest", d)
		}, `unknown layer media type "application/x-rar"`},
		{"no index", func(t *testing.T, dir string, m v1.Descriptor) {
			os.Remove(filepath.Join(dir, "index.json"))
		}, "not an OCI image layout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := imagetest.WriteLayout(t, dir, "latest", smallImage(t))
			tc.breakIt(t, dir, m)
			_, err := Open(Ref{Transport: OCILayout, Path: dir, Tag: "latest"}, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestArchives reads the same image as an oci-archive (tarred here with
// archive/tar) and as a docker-archive written by skopeo.
func TestArchives(t *testing.T) {
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	want := imagetest.WriteLayout(t, layout, "v1", imagetest.Image{
		Layers: [][]byte{imagetest.Tar(t, E{Name: "a", Body: "1"}), imagetest.Tar(t, E{Name: "b", Body: "2"})},
		Config: v1.ImageConfig{Cmd: []string{"/a"}},
	})
	ociArchive := filepath.Join(dir, "image.tar")
	tarDir(t, layout, ociArchive)
	img, err := Open(Ref{Transport: OCIArchive, Path: ociArchive, Tag: "v1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
	if img.ManifestDigest != ocispec.Digest(want.Digest) {
		t.Fatalf("oci-archive manifest %s, want %s", img.ManifestDigest, want.Digest)
	}
	dockerArchive := filepath.Join(dir, "docker.tar")
	if out, err := exec.Command("skopeo", "copy", "oci:"+layout+":v1", "docker-archive:"+dockerArchive+":example/img:v1").CombinedOutput(); err != nil {
		t.Fatalf("skopeo: %v\n%s", err, out)
	}
	img, err = Open(Ref{Transport: DockerArchive, Path: dockerArchive, Tag: "example/img:v1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if len(img.Layers) != 2 || img.Layers[1].DiffID != img.Config.RootFS.DiffIDs[1] || img.Config.Config.Cmd[0] != "/a" {
		t.Fatalf("docker-archive image: %+v", img.Layers)
	}
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range img.Layers {
		if _, err := s.EnsureLayer(l, func() (io.ReadCloser, error) { return img.OpenLayer(i) }); err != nil {
			t.Fatal(err)
		}
	}
	if readFile(t, filepath.Join(s.LayerDir(img.Layers[1].DiffID), "b")) != "2" {
		t.Fatal("docker-archive layer b not unpacked")
	}
}

func tarDir(t *testing.T, dir, out string) {
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func blobFile(dir string, d v1.Descriptor) string {
	return filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded())
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

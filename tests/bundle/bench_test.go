package bundle_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specsv "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
)

// BenchmarkCreateWarm times `strata bundle create` (the whole process) when
// every layer is already in the store, for a 1-layer and a 100-layer image.
// The target is under 10 ms and flat in the number of layers.
func BenchmarkCreateWarm(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("layers=%d", n), func(b *testing.B) {
			layers := [][]byte{imagetest.Busybox(b)}
			for i := 1; i < n; i++ {
				layers = append(layers, imagetest.Tar(b, E{Name: fmt.Sprintf("l%03d", i), Body: "x"}))
			}
			layout := filepath.Join(b.TempDir(), "layout")
			imagetest.WriteLayout(b, layout, "v1", imagetest.Image{Layers: layers, Config: imageConfig()})
			store := b.TempDir()
			dir := b.TempDir()
			warm := filepath.Join(dir, "warm")
			strata(b, "bundle", "create", warm, "--image", "oci:"+layout+":v1", "--store", store)
			strata(b, "bundle", "rm", warm)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bundle := filepath.Join(dir, fmt.Sprint(i))
				strata(b, "bundle", "create", bundle, "--image", "oci:"+layout+":v1", "--store", store)
				b.StopTimer()
				strata(b, "bundle", "rm", bundle)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkColdUnpack unpacks one gzip layer of mixed files (the Go
// distribution in /usr/local/go, about 270 MB in 15k files: sources, binaries,
// test data) three ways in the same run, in turn: GNU tar -xzf of the layer
// blob, umoci unpack of the image, and strata bundle create into an empty
// store. It reports milliseconds per tool; ns/op is their sum.
func BenchmarkColdUnpack(b *testing.B) {
	work := b.TempDir()
	layout, blob := goDistImage(b, work)
	st, _ := os.Stat(blob)
	b.Logf("layer blob %s: %d MB compressed", filepath.Base(blob), st.Size()>>20)
	totals := map[string]time.Duration{}
	tools := []struct {
		name string
		run  func(dest string) *exec.Cmd
		done func(dest string)
	}{
		{"tar", func(dest string) *exec.Cmd {
			os.Mkdir(dest, 0o755)
			return exec.Command("tar", "-xzf", blob, "-C", dest)
		}, nil},
		{"umoci", func(dest string) *exec.Cmd {
			return exec.Command("umoci", "unpack", "--image", layout+":v1", dest)
		}, nil},
		{"strata", func(dest string) *exec.Cmd {
			os.Mkdir(dest, 0o755)
			return exec.Command(strataBin, "bundle", "create", filepath.Join(dest, "bundle"), "--image", "oci:"+layout+":v1", "--store", filepath.Join(dest, "store"))
		}, func(dest string) { unix.Unmount(filepath.Join(dest, "bundle", "rootfs"), unix.MNT_DETACH) }},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, tool := range tools {
			b.StopTimer()
			dest := filepath.Join(work, fmt.Sprintf("%s-%d", tool.name, i))
			cmd := tool.run(dest)
			unix.Sync() // the previous tool's writeback must not slow this one
			b.StartTimer()
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v\n%s", tool.name, err, out)
			}
			totals[tool.name] += time.Since(start)
			b.StopTimer()
			if tool.done != nil {
				tool.done(dest)
			}
			os.RemoveAll(dest)
			b.StartTimer()
		}
	}
	for name, d := range totals {
		b.ReportMetric(float64(d.Milliseconds())/float64(b.N), name+"-ms")
	}
}

// goDistImage makes an OCI layout holding /usr/local/go as one gzip layer
// (created with GNU tar and gzip) and returns the layout and the blob's path.
func goDistImage(b *testing.B, work string) (string, string) {
	layout := filepath.Join(work, "layout")
	raw := filepath.Join(work, "go.tar")
	gz := filepath.Join(work, "go.tar.gz")
	for _, c := range []string{
		"tar -C /usr/local -cf " + raw + " go",
		"gzip -c " + raw + " > " + gz,
	} {
		if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", c, err, out)
		}
	}
	diffID, _ := fileDigest(b, raw)
	blobDigest, size := fileDigest(b, gz)
	os.Remove(raw)
	blobPath := filepath.Join(layout, "blobs", "sha256", blobDigest.Encoded())
	os.MkdirAll(filepath.Dir(blobPath), 0o755)
	if err := os.Rename(gz, blobPath); err != nil {
		b.Fatal(err)
	}
	cfg := v1.Image{Platform: v1.Platform{OS: "linux", Architecture: goarch()}, Config: imageConfig(),
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}}
	cfgDesc := imagetest.WriteBlob(b, layout, v1.MediaTypeImageConfig, mustJSON(b, cfg))
	m := v1.Manifest{Versioned: specsv.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest, Config: cfgDesc,
		Layers: []v1.Descriptor{{MediaType: v1.MediaTypeImageLayerGzip, Digest: blobDigest, Size: size}}}
	imagetest.Tag(b, layout, "v1", imagetest.WriteBlob(b, layout, v1.MediaTypeImageManifest, mustJSON(b, m)))
	return layout, blobPath
}

func fileDigest(b *testing.B, p string) (digest.Digest, int64) {
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		b.Fatal(err)
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), n
}

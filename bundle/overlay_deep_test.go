package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/image/imagetest"
	"github.com/strata-runtime/strata/libcontainer/overlay"
)

// TestCreateClassicDeep: Create on a kernel taken to lack lowerdir+, with a
// 150-layer image and the store's real 64-hex layer paths, whose absolute
// lowerdir= would take about 15 KB.
func TestCreateClassicDeep(t *testing.T) {
	requireRoot(t)
	t.Cleanup(overlay.UseClassic())
	const n = 150
	layers := [][]byte{imagetest.Busybox(t)}
	for i := 1; i < n; i++ {
		layers = append(layers, imagetest.Tar(t, imagetest.Entry{Name: fmt.Sprintf("l%03d", i), Body: "x"}))
	}
	layout := filepath.Join(t.TempDir(), "layout")
	imagetest.WriteLayout(t, layout, "v1", imagetest.Image{Layers: layers, Config: v1.ImageConfig{Cmd: []string{"sh"}}})
	b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: t.TempDir()})
	for _, f := range []string{"bin/busybox", fmt.Sprintf("l%03d", n-1)} {
		if _, err := os.Stat(filepath.Join(b, rootfsDir, f)); err != nil {
			t.Errorf("rootfs: %v", err)
		}
	}
	if opts := mountOptions(t, filepath.Join(b, rootfsDir)); strings.Contains(opts, "sha256") {
		t.Errorf("short form expected; mount options %.200q", opts)
	}
	if err := Remove(b); err != nil {
		t.Fatal(err)
	}
}

// mountOptions is the overlay's option string from mountinfo.
func mountOptions(t *testing.T, target string) string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(target))
	if err != nil || len(ms) != 1 {
		t.Fatalf("mountinfo for %s: %v, %d entries", target, err, len(ms))
	}
	return ms[0].VFSOptions
}

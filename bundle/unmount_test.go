package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestRemoveOutlastsABriefHold: rm waits out a hold on the rootfs that ends
// (a lookup or an fd elsewhere, gone in a moment), and still says busy for
// one that stays.
func TestRemoveOutlastsABriefHold(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{})
	store := t.TempDir()

	b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store})
	f, err := os.Open(filepath.Join(b, rootfsDir, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	release := time.AfterFunc(20*time.Millisecond, func() { f.Close() })
	defer release.Stop()
	if err := Remove(b); err != nil {
		t.Fatalf("rm while the rootfs was held for 20 ms: %v", err)
	}

	b = create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store})
	held, err := os.Open(filepath.Join(b, rootfsDir, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := Remove(b); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("rm while the rootfs stays held: %v, want busy", err)
	}
}

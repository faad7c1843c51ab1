package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
	"github.com/strata-runtime/strata/image/ocispec"
)

// TestGCDuringUnpack: gc does not wait for a create whose layer is still
// unpacking (no store lock is held meanwhile), and removes neither the
// unpack in progress nor anything the create then records. The layer's blob
// is a fifo, so the unpack waits, mid-create, for the test to feed it.
func TestGCDuringUnpack(t *testing.T) {
	requireRoot(t)
	var entries []imagetest.Entry
	for i := range 50 {
		entries = append(entries, imagetest.Entry{Name: fmt.Sprintf("f%02d", i), Body: "x"})
	}
	raw := imagetest.Tar(t, entries...)
	layout := filepath.Join(t.TempDir(), "layout")
	desc := imagetest.WriteLayout(t, layout, "v1", imagetest.Image{Layers: [][]byte{imagetest.Busybox(t), raw}, Config: v1.ImageConfig{Cmd: []string{"/bin/sh"}}})
	var m v1.Manifest
	readJSON(t, filepath.Join(layout, "blobs/sha256", desc.Digest.Encoded()), &m)
	blobPath := filepath.Join(layout, "blobs/sha256", m.Layers[1].Digest.Encoded())
	blob, err := os.ReadFile(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(blobPath); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(blobPath, 0o600); err != nil {
		t.Fatal(err)
	}
	// However the test ends, a reader still waiting on the fifo gets EOF.
	t.Cleanup(func() {
		if fd, err := unix.Open(blobPath, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	})

	store := t.TempDir()
	dir := filepath.Join(t.TempDir(), "bundle")
	t.Cleanup(func() { forceUnmount(filepath.Join(dir, rootfsDir)) })
	created := make(chan error, 1)
	go func() {
		_, err := Create(CreateOptions{Bundle: dir, Image: ociRef(layout, "v1"), Store: store})
		created <- err
	}()
	diffID := ocispec.FromBytes(raw).Encoded()
	waitFor(t, "the unpack of the fifo layer to start", func() bool {
		tmp, _ := os.ReadDir(filepath.Join(store, "tmp"))
		return len(tmp) == 1 && strings.HasPrefix(tmp[0].Name(), diffID+".")
	})
	gcDone := make(chan error, 1)
	go func() {
		_, err := GC(store)
		gcDone <- err
	}()
	gcWaited := false
	select {
	case err := <-gcDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		gcWaited = true
		t.Error("gc waited for a layer's unpack: it is held off by a store lock")
	}
	if tmp, _ := os.ReadDir(filepath.Join(store, "tmp")); len(tmp) != 1 {
		t.Fatalf("gc removed the unpack in progress from tmp/ (%d entries left)", len(tmp))
	}
	f, err := os.OpenFile(blobPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(blob)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if gcWaited {
		<-gcDone
	}
	if n := countEntries(t, filepath.Join(dir, rootfsDir)); n < 50 {
		t.Fatalf("the bundle's rootfs holds %d entries", n)
	}
	if removed, err := GC(store); err != nil || len(removed) != 0 {
		t.Fatalf("gc of a store whose layers a bundle uses removed %v (%v)", removed, err)
	}
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if removed, err := GC(store); err != nil || len(removed) != 2 {
		t.Fatalf("gc after rm removed %v (%v), want the 2 layers", removed, err)
	}
}

func countEntries(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

package bundle_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
)

// manyFiles is a layer of n small files under dir/.
func manyFiles(t testing.TB, dir string, n int) []byte {
	entries := []E{{Name: dir + "/", Type: '5', Mode: 0o755}}
	for i := 0; i < n; i++ {
		entries = append(entries, E{Name: fmt.Sprintf("%s/f%05d", dir, i), Body: strings.Repeat("x", i%512)})
	}
	return imagetest.Tar(t, entries...)
}

// TestConcurrentCreate: 8 processes creating bundles of one image at once
// unpack each layer exactly once between them.
func TestConcurrentCreate(t *testing.T) {
	layout := busyboxLayout(t, manyFiles(t, "many", 3000))
	store := t.TempDir()
	var wg sync.WaitGroup
	stderrs := make([]bytes.Buffer, 8)
	errs := make([]error, 8)
	bundles := make([]string, 8)
	for i := range bundles {
		bundles[i] = newBundle(t)
	}
	for i := range bundles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(strataBin, "--debug", "bundle", "create", bundles[i], "--image", "oci:"+layout+":v1", "--store", store)
			cmd.Stderr = &stderrs[i]
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	unpacks := 0
	for i := range bundles {
		if errs[i] != nil {
			t.Fatalf("create %d: %v\n%s", i, errs[i], stderrs[i].String())
		}
		unpacks += strings.Count(stderrs[i].String(), "unpacked layer")
		if n := countDir(t, filepath.Join(bundles[i], "rootfs/many")); n != 3000 {
			t.Fatalf("bundle %d has %d files in /many", i, n)
		}
	}
	if unpacks != 2 {
		t.Fatalf("2 layers were unpacked %d times in all", unpacks)
	}
	for _, b := range bundles {
		strata(t, "bundle", "rm", b)
	}
}

// TestKilledUnpack: a create killed while unpacking leaves only debris in the
// store's tmp/, never a layer that looks complete; the next create repairs it.
func TestKilledUnpack(t *testing.T) {
	layout := busyboxLayout(t, manyFiles(t, "many", 10000))
	store := t.TempDir()
	cmd := exec.Command(strataBin, "bundle", "create", newBundle(t), "--image", "oci:"+layout+":v1", "--store", store)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the big layer is part-way through its unpack in tmp/.
	deadline := time.Now().Add(30 * time.Second)
	for {
		// No wildcard in the last element: Glob stats it rather than listing a growing directory.
		if partial, _ := filepath.Glob(filepath.Join(store, "tmp", "*", "many", "f02000")); len(partial) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("never saw the unpack in progress")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	layers, _ := os.ReadDir(filepath.Join(store, "layers", "sha256"))
	for _, l := range layers {
		if _, err := os.Stat(filepath.Join(store, "layers", "sha256", l.Name(), "many")); err == nil {
			t.Fatalf("the killed unpack published layer %s", l.Name())
		}
	}
	debris, _ := os.ReadDir(filepath.Join(store, "tmp"))
	if len(debris) == 0 {
		t.Fatal("expected the killed unpack's debris in tmp/")
	}
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", store)
	if n := countDir(t, filepath.Join(b, "rootfs/many")); n != 10000 {
		t.Fatalf("repaired layer has %d files, want 10000", n)
	}
	assertEmptyDir(t, filepath.Join(store, "tmp"))
	strata(t, "bundle", "rm", b)
}

// TestManyLayers: a 128-layer image composes (no mount option page limit)
// and runs; gc then removes exactly its layers.
func TestManyLayers(t *testing.T) {
	const n = 128
	layers := [][]byte{imagetest.Busybox(t)}
	for i := 1; i < n; i++ {
		layers = append(layers, imagetest.Tar(t, E{Name: "layers/", Type: '5', Mode: 0o755}, E{Name: fmt.Sprintf("layers/%03d", i), Body: fmt.Sprint(i)}))
	}
	layout := filepath.Join(t.TempDir(), "layout")
	imagetest.WriteLayout(t, layout, "v1", imagetest.Image{Layers: layers, Config: imageConfig()})
	store := t.TempDir()
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", store, "--",
		"sh", "-c", "ls /layers | grep -c . && cat /layers/001 /layers/127")
	if out := runBundle(t, b); out != "127\n1127" {
		t.Fatalf("128-layer container printed %q", out)
	}
	strata(t, "bundle", "rm", b)
	if gc := strata(t, "bundle", "gc", "--store", store); strings.Count(gc, "removed layer") != n {
		t.Fatalf("gc after rm:\n%s", gc)
	}
	assertEmptyDir(t, filepath.Join(store, "layers", "sha256"))
}

// TestRemount: after the overlay is gone (as after a reboot), bundle mount
// brings back the rootfs with the container's changes.
func TestRemount(t *testing.T) {
	layout := busyboxLayout(t)
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", t.TempDir())
	rootfs := filepath.Join(b, "rootfs")
	if err := os.WriteFile(filepath.Join(rootfs, "kept"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(rootfs, 0); err != nil {
		t.Fatal(err)
	}
	strata(t, "bundle", "mount", b)
	strata(t, "bundle", "mount", b) // mounted already: nothing to do
	if data, err := os.ReadFile(filepath.Join(rootfs, "kept")); err != nil || string(data) != "k" {
		t.Fatalf("after remount: kept = %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "bin/busybox")); err != nil {
		t.Fatal(err)
	}
	strata(t, "bundle", "rm", b)
	assertNoMountsUnder(t, filepath.Dir(b))
}

// TestCopyBundle: --copy makes a plain rootfs that runs, and diff refuses it.
func TestCopyBundle(t *testing.T) {
	layout := busyboxLayout(t, imagetest.Tar(t, E{Name: "hello", Body: "copied"}))
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--copy", "--image", "oci:"+layout+":v1", "--store", t.TempDir(), "--", "cat", "/hello")
	if out := runBundle(t, b); out != "copied" {
		t.Fatalf("copy bundle printed %q", out)
	}
	_, stderr, err := strataResult("bundle", "diff", b, "-o", filepath.Join(t.TempDir(), "x.tar"))
	if err == nil || !strings.Contains(stderr, "--copy") {
		t.Fatalf("diff of a copy bundle: %v %s", err, stderr)
	}
	strata(t, "bundle", "rm", b)
}

func countDir(t testing.TB, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

package bundle

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/imagetest"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("bundle tests need root (CI runs as root): overlay mounts, chown, mknod")
	}
}

// fixtureLayout writes the fixture image into a fresh layout, tagged "v1".
func fixtureLayout(t *testing.T, cfg v1.ImageConfig) string {
	dir := filepath.Join(t.TempDir(), "layout")
	if cfg.Cmd == nil {
		cfg.Cmd = []string{"/bin/sh"}
	}
	imagetest.WriteLayout(t, dir, "v1", imagetest.Image{Layers: imagetest.FixtureLayers(t), Config: cfg, History: true})
	return dir
}

// create makes a bundle and registers its removal, which unmounts it even if
// the test fails half-way.
func create(t *testing.T, o CreateOptions) string {
	t.Helper()
	if o.Bundle == "" {
		o.Bundle = filepath.Join(t.TempDir(), "bundle")
	}
	t.Cleanup(func() { forceUnmount(filepath.Join(o.Bundle, rootfsDir)) })
	if _, err := Create(o); err != nil {
		t.Fatal(err)
	}
	return o.Bundle
}

func forceUnmount(p string) { unix.Unmount(p, unix.MNT_DETACH) }

func ociRef(dir, tag string) image.Ref {
	return image.Ref{Transport: image.OCILayout, Path: dir, Tag: tag}
}

// TestComposeMatchesUmoci: the overlay rootfs and the --copy rootfs both equal
// what umoci unpacks from the same image.
func TestComposeMatchesUmoci(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{})
	want := filepath.Join(t.TempDir(), "umoci")
	if out, err := exec.Command("umoci", "unpack", "--image", layout+":v1", want).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	// Guard against a vacuous comparison: the reference has the fixture's effects.
	ref := imagetest.Describe(t, filepath.Join(want, "rootfs"))
	for p, present := range map[string]bool{"old/new": true, "old/a": false, "gone": false, "link": false,
		"becomes-dir/inside": true, "dir-to-file/child": false, "usr/bin/sgid": false, "bin/busybox": true} {
		if _, ok := ref[p]; ok != present {
			t.Fatalf("umoci's rootfs: %s present=%v, want %v", p, ok, present)
		}
	}
	store := t.TempDir()
	for _, copyMode := range []bool{false, true} {
		b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store, Copy: copyMode})
		imagetest.CompareTrees(t, filepath.Join(want, "rootfs"), filepath.Join(b, "rootfs"))
		a, _ := os.Stat(filepath.Join(b, "rootfs/data/x"))
		c, _ := os.Stat(filepath.Join(b, "rootfs/data/y"))
		if !os.SameFile(a, c) {
			t.Errorf("copy=%v: data/y is not a hard link of data/x", copyMode)
		}
		if err := Remove(b); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(b); !os.IsNotExist(err) {
			t.Fatalf("bundle rm left %s: %v", b, err)
		}
	}
}

func TestSpecFromImageConfig(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{
		User:         "alice",
		Entrypoint:   []string{"/bin/echo"},
		Cmd:          []string{"default"},
		Env:          []string{"PATH=/custom", "A=1"},
		WorkingDir:   "/data",
		Labels:       map[string]string{"org.opencontainers.image.stopSignal": "SIGUSR1", "team": "x"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
		StopSignal:   "SIGTERM",
	})
	b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: t.TempDir(), Spec: SpecOptions{
		Args: []string{"hi", "there"}, Env: []string{"A=2", "B=3"}, Hostname: "box", Readonly: true, Net: "host"}})
	var s specs.Spec
	readJSON(t, filepath.Join(b, "config.json"), &s)
	check := func(what string, got, want any) {
		t.Helper()
		if !equalJSON(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("args", s.Process.Args, []string{"/bin/echo", "hi", "there"})
	check("env", s.Process.Env, []string{"PATH=/custom", "A=2", "B=3"})
	check("cwd", s.Process.Cwd, "/data")
	check("user", s.Process.User, specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 29}})
	check("hostname", s.Hostname, "box")
	check("readonly", s.Root.Readonly, true)
	check("terminal", s.Process.Terminal, false)
	check("stop signal (label wins)", s.Annotations["org.opencontainers.image.stopSignal"], "SIGUSR1")
	check("ports", s.Annotations["org.opencontainers.image.exposedPorts"], "53/udp,80/tcp")
	check("volumes", s.Annotations[VolumesAnnotation], "/data")
	check("label", s.Annotations["team"], "x")
	check("os", s.Annotations["org.opencontainers.image.os"], "linux")
	if slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace }) {
		t.Error("--net host kept the network namespace")
	}
}

func TestUserResolution(t *testing.T) {
	requireRoot(t)
	store := t.TempDir()
	for user, want := range map[string]specs.User{
		"":            {},
		"alice:wheel": {UID: 1000, GID: 10},
		"1000":        {UID: 1000, GID: 1000},
		"4242:4343":   {UID: 4242, GID: 4343},
	} {
		layout := fixtureLayout(t, v1.ImageConfig{User: user})
		b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store})
		var s specs.Spec
		readJSON(t, filepath.Join(b, "config.json"), &s)
		if !equalJSON(s.Process.User, want) {
			t.Errorf("User %q gave %+v, want %+v", user, s.Process.User, want)
		}
	}
	layout := fixtureLayout(t, v1.ImageConfig{User: "mallory"})
	dir := filepath.Join(t.TempDir(), "bundle")
	t.Cleanup(func() { forceUnmount(filepath.Join(dir, rootfsDir)) })
	_, err := Create(CreateOptions{Bundle: dir, Image: ociRef(layout, "v1"), Store: store})
	if err == nil || !strings.Contains(err.Error(), `User "mallory"`) {
		t.Fatalf("unknown user: %v", err)
	}
	assertNoBundle(t, dir)
}

// TestCreateFailureLeavesNothing: an image whose last layer blob is missing
// fails, leaves no bundle directory and no mount; the layers unpacked before
// the failure stay in the store, complete.
func TestCreateFailureLeavesNothing(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{})
	var m v1.Manifest
	idx := v1.Index{}
	readJSON(t, filepath.Join(layout, "index.json"), &idx)
	readJSON(t, filepath.Join(layout, "blobs/sha256", idx.Manifests[0].Digest.Encoded()), &m)
	last := m.Layers[len(m.Layers)-1].Digest
	os.Remove(filepath.Join(layout, "blobs/sha256", last.Encoded()))
	store := t.TempDir()
	dir := filepath.Join(t.TempDir(), "bundle")
	t.Cleanup(func() { forceUnmount(filepath.Join(dir, rootfsDir)) })
	_, err := Create(CreateOptions{Bundle: dir, Image: ociRef(layout, "v1"), Store: store})
	if err == nil || !strings.Contains(err.Error(), last.String()) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("error %v should name the missing blob %s", err, last)
	}
	assertNoBundle(t, dir)
	entries, _ := os.ReadDir(filepath.Join(store, "tmp"))
	if len(entries) != 0 {
		t.Fatalf("store tmp holds %d entries", len(entries))
	}
}

func assertNoBundle(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("failed create left %s behind (%v)", dir, err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), dir) {
		t.Fatalf("failed create left a mount under %s", dir)
	}
}

// TestMountMissingLayer: remounting a bundle whose layer was deleted by hand
// names the layer.
func TestMountMissingLayer(t *testing.T) {
	requireRoot(t)
	layout := fixtureLayout(t, v1.ImageConfig{})
	storeDir := t.TempDir()
	b := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: storeDir})
	if err := unmount(filepath.Join(b, rootfsDir)); err != nil {
		t.Fatal(err)
	}
	rec, err := ReadRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	store, err := image.OpenStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.RemoveLayer(rec.Layers[1]); err != nil {
		t.Fatal(err)
	}
	err = Mount(b)
	if err == nil || !strings.Contains(err.Error(), rec.Layers[1].String()+" is missing from the store") {
		t.Fatalf("mount with a missing layer: %v", err)
	}
	assertNoBundleMount(t, b)
}

func assertNoBundleMount(t *testing.T, dir string) {
	t.Helper()
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), dir) {
		t.Fatalf("a mount under %s is left", dir)
	}
}

package bundle_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-runtime/strata/image/imagetest"
)

// TestRunDiffCommit is a build step: create a bundle, run a container that
// writes, changes and deletes files, diff exactly those changes, commit them
// as a new image, and create and run a bundle from it.
func TestRunDiffCommit(t *testing.T) {
	layout := busyboxLayout(t, imagetest.Tar(t,
		E{Name: "etc/", Type: '5', Mode: 0o755},
		E{Name: "etc/motd", Body: "original"},
		E{Name: "gone", Body: "delete me"},
	))
	store := t.TempDir()
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", store, "--",
		"sh", "-c", "echo hello > /new && echo changed > /etc/motd && rm /gone && echo ran")
	if out := runBundle(t, b); strings.TrimSpace(out) != "ran" {
		t.Fatalf("container output %q", out)
	}
	diff := filepath.Join(t.TempDir(), "layer.tar")
	strata(t, "bundle", "diff", b, "-o", diff, "--compress", "none")
	// Entries are in the lexical order of the names they change, whiteouts included.
	want := []string{"etc/ 5", "etc/motd 0 changed", ".wh.gone 0", "new 0 hello"}
	if got := tarEntries(t, diff); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("diff entries %q, want %q", got, want)
	}

	strata(t, "bundle", "commit", b, "--image", "oci:"+layout+":v2", "--message", "edit motd")
	b2 := newBundle(t)
	strata(t, "bundle", "create", b2, "--image", "oci:"+layout+":v2", "--store", store, "--",
		"sh", "-c", "cat /new /etc/motd; test -e /gone || echo gone")
	if out := runBundle(t, b2); out != "hello\nchanged\ngone\n" {
		t.Fatalf("container from the committed image printed %q", out)
	}
	// umoci, an independent reader, accepts the committed image.
	if out, err := exec.Command("umoci", "stat", "--image", layout+":v2").CombinedOutput(); err != nil || !strings.Contains(string(out), "edit motd") {
		t.Fatalf("umoci stat of the committed image: %v\n%s", err, out)
	}
	ls := strata(t, "bundle", "ls", "--store", store)
	if !strings.Contains(ls, b) || !strings.Contains(ls, b2) || strings.Count(ls, "mounted") != 2 {
		t.Fatalf("bundle ls:\n%s", ls)
	}
	for _, d := range []string{b, b2} {
		strata(t, "bundle", "rm", d)
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("bundle rm left %s", d)
		}
	}
	gc := strata(t, "bundle", "gc", "--store", store)
	if n := strings.Count(gc, "removed layer"); n != 3 {
		t.Fatalf("gc removed %d layers, want 3 (busybox, layer, commit):\n%s", n, gc)
	}
	assertEmptyDir(t, filepath.Join(store, "layers", "sha256"))
	// The layers' lock files go with them; the store's own stays.
	if locks, err := os.ReadDir(filepath.Join(store, "locks")); err != nil || len(locks) != 1 || locks[0].Name() != "store.lock" {
		t.Fatalf("after gc, locks/ holds %v (%v), want only store.lock", locks, err)
	}
	assertNoMountsUnder(t, filepath.Dir(b))
}

// TestDockerArchive: the same image as a docker-archive (written by skopeo)
// and as an oci-archive composes to the same rootfs as the OCI layout.
func TestDockerArchive(t *testing.T) {
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	imagetest.WriteLayout(t, layout, "v1", imagetest.Image{Layers: imagetest.FixtureLayers(t), Config: imageConfig()})
	docker := filepath.Join(dir, "docker.tar")
	ociArchive := filepath.Join(dir, "oci.tar")
	for _, dst := range []string{"docker-archive:" + docker + ":fixture:v1", "oci-archive:" + ociArchive + ":v1"} {
		if out, err := exec.Command("skopeo", "copy", "oci:"+layout+":v1", dst).CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy to %s: %v\n%s", dst, err, out)
		}
	}
	store := t.TempDir()
	ref := newBundle(t)
	strata(t, "bundle", "create", ref, "--image", "oci:"+layout+":v1", "--store", store)
	for _, img := range []string{"docker-archive:" + docker + ":fixture:v1", "oci-archive:" + ociArchive + ":v1"} {
		b := newBundle(t)
		strata(t, "bundle", "create", b, "--image", img, "--store", t.TempDir())
		imagetest.CompareTrees(t, filepath.Join(ref, "rootfs"), filepath.Join(b, "rootfs"))
		strata(t, "bundle", "rm", b)
	}
	strata(t, "bundle", "rm", ref)
}

// TestHostileLayerCLI: a layer escaping through a symlinked parent fails the
// create with an error naming the entry, leaving no bundle, no mount and no
// debris in the store.
func TestHostileLayerCLI(t *testing.T) {
	victim := t.TempDir()
	layout := busyboxLayout(t, imagetest.Tar(t,
		E{Name: "escape", Type: '2', Link: victim},
		E{Name: "escape/pwned", Body: "x"},
	))
	store := t.TempDir()
	b := newBundle(t)
	_, stderr, err := strataResult("bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", store)
	if err == nil || !strings.Contains(stderr, `entry "escape/pwned"`) || !strings.Contains(stderr, "symlink") {
		t.Fatalf("hostile layer: err %v, stderr %s", err, stderr)
	}
	assertEmptyDir(t, victim)
	assertEmptyDir(t, filepath.Join(store, "tmp"))
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Fatalf("failed create left %s", b)
	}
	assertNoMountsUnder(t, filepath.Dir(b))
}

// TestPlatformIndex: from an index with two platforms, create picks the
// host's unless --platform names the other.
func TestPlatformIndex(t *testing.T) {
	layout := filepath.Join(t.TempDir(), "layout")
	host := imagetest.WriteManifest(t, layout, imagetest.Image{Layers: [][]byte{imagetest.Busybox(t)}, Config: imageConfig()})
	other := imagetest.Image{Layers: [][]byte{imagetest.Busybox(t)}, Config: imageConfig(), Platform: foreignPlatform()}
	other.Config.Cmd = []string{"/bin/foreign"}
	foreign := imagetest.WriteManifest(t, layout, other)
	imagetest.WriteIndex(t, layout, "multi", foreign, host)
	for platform, want := range map[string]string{"": `"/bin/sh"`, foreignPlatform().OS + "/" + foreignPlatform().Architecture: `"/bin/foreign"`} {
		b := newBundle(t)
		args := []string{"bundle", "create", b, "--image", "oci:" + layout + ":multi", "--store", t.TempDir()}
		if platform != "" {
			args = append(args, "--platform", platform)
		}
		strata(t, args...)
		cfg, _ := os.ReadFile(filepath.Join(b, "config.json"))
		if !strings.Contains(string(cfg), fmt.Sprintf(`"args": [%s]`, want)) && !strings.Contains(string(cfg), want) {
			t.Errorf("platform %q: config.json args are not %s", platform, want)
		}
		strata(t, "bundle", "rm", b)
	}
}

// TestDiffSkipsRuntimeMountpoints: /proc, /dev and /sys, which the runtime
// makes in an image that lacks them, are not the container's changes.
func TestDiffSkipsRuntimeMountpoints(t *testing.T) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	imagetest.WriteLayout(t, layout, "v1", imagetest.Image{Config: imageConfig(), Layers: [][]byte{imagetest.Tar(t,
		E{Name: "bin/", Type: '5', Mode: 0o755},
		E{Name: "bin/busybox", Body: string(bb), Mode: 0o755},
		E{Name: "bin/sh", Type: '2', Link: "busybox"},
	)}})
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", t.TempDir(), "--", "sh", "-c", "echo x > /made")
	runBundle(t, b)
	for _, d := range []string{"proc", "dev", "sys"} {
		if _, err := os.Stat(filepath.Join(b, "upper", d)); err != nil {
			t.Fatalf("the runtime did not make /%s in upper, so this test proves nothing: %v", d, err)
		}
	}
	diff := filepath.Join(t.TempDir(), "layer.tar")
	strata(t, "bundle", "diff", b, "-o", diff, "--compress", "none")
	if got := tarEntries(t, diff); strings.Join(got, "|") != "made 0 x" {
		t.Fatalf("diff entries %q, want only the new file", got)
	}
	strata(t, "bundle", "rm", b)
}

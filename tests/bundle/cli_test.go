package bundle_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/image/imagetest"
)

// strataIn runs strata in working directory dir; failure is fatal.
func strataIn(t testing.TB, dir string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(strataBin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("strata %s (in %s): %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), dir, err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestRelativeImageCommit: a bundle made from a relative image path commits
// from another directory, into a new layout that needs the base layers
// copied from that image.
func TestRelativeImageCommit(t *testing.T) {
	work := t.TempDir()
	imagetest.WriteLayout(t, filepath.Join(work, "images"), "v1", imagetest.Image{Layers: [][]byte{imagetest.Busybox(t)}, Config: imageConfig()})
	b := newBundle(t)
	strataIn(t, work, "bundle", "create", b, "--image", "oci:images:v1", "--store", t.TempDir())
	rec, err := bundle.ReadRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := "oci:" + filepath.Join(work, "images") + ":v1"; rec.Image != want {
		t.Errorf("record image %q, want the absolute %q", rec.Image, want)
	}
	target := filepath.Join(t.TempDir(), "target")
	strataIn(t, "/", "bundle", "commit", b, "--image", "oci:"+target+":v2")
	if out, err := exec.Command("umoci", "stat", "--image", target+":v2").CombinedOutput(); err != nil {
		t.Fatalf("umoci stat of the commit: %v\n%s", err, out)
	}
	strata(t, "bundle", "rm", b)
}

// TestDiffToStdout: -o - writes the layer to standard output and the summary
// to standard error, and makes no file named "-".
func TestDiffToStdout(t *testing.T) {
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+busyboxLayout(t)+":v1", "--store", t.TempDir())
	if err := os.WriteFile(filepath.Join(b, "rootfs", "new"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd := t.TempDir()
	stdout, stderr := strataIn(t, cwd, "bundle", "diff", b, "-o", "-", "--compress", "none")
	layer := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(layer, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := tarEntries(t, layer); strings.Join(got, "|") != "new 0 hello" {
		t.Errorf("layer on stdout has %q", got)
	}
	if !strings.Contains(stderr, "diff_id=sha256:") {
		t.Errorf("summary not on stderr: %q", stderr)
	}
	assertEmptyDir(t, cwd)
	strata(t, "bundle", "rm", b)
}

// TestMissingStore: ls and gc of a store that does not exist say so, exit 0
// and create nothing.
func TestMissingStore(t *testing.T) {
	store := filepath.Join(t.TempDir(), "nowhere")
	_, stderr := strataIn(t, "/", "bundle", "ls", "--store", store)
	if !strings.Contains(stderr, store+": store does not exist: no bundles") {
		t.Errorf("ls of a missing store: stderr %q", stderr)
	}
	if stdout, _ := strataIn(t, "/", "bundle", "ls", "--store", store, "--format", "json"); strings.TrimSpace(stdout) != "[]" {
		t.Errorf("ls --format json of a missing store printed %q", stdout)
	}
	if _, stderr := strataIn(t, "/", "bundle", "gc", "--store", store); !strings.Contains(stderr, "nothing to collect") {
		t.Errorf("gc of a missing store: stderr %q", stderr)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("ls or gc created the store %s (%v)", store, err)
	}
}

// TestLsJSON: ls --format json lists the bundles sorted, with their layers;
// --layers shows which bundles use each layer (the shared busybox layer both).
func TestLsJSON(t *testing.T) {
	store := t.TempDir()
	parent := t.TempDir()
	plain, extra := filepath.Join(parent, "b-plain"), filepath.Join(parent, "a-extra")
	for _, b := range []string{plain, extra} {
		t.Cleanup(func() { exec.Command(strataBin, "bundle", "rm", b).Run() })
	}
	strata(t, "bundle", "create", plain, "--image", "oci:"+busyboxLayout(t)+":v1", "--store", store)
	strata(t, "bundle", "create", extra, "--copy", "--image", "oci:"+busyboxLayout(t, imagetest.Tar(t, E{Name: "x", Body: "x"}))+":v1", "--store", store)
	var rows []struct {
		Bundle string   `json:"bundle"`
		Image  string   `json:"image"`
		Layers []string `json:"layers"`
		State  string   `json:"state"`
	}
	if err := json.Unmarshal([]byte(strata(t, "bundle", "ls", "--store", store, "--format", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Bundle != extra || rows[1].Bundle != plain {
		t.Fatalf("ls rows %+v, want %s then %s", rows, extra, plain)
	}
	if len(rows[0].Layers) != 2 || len(rows[1].Layers) != 1 || rows[0].Layers[0] != rows[1].Layers[0] ||
		rows[0].State != "copy" || rows[1].State != "mounted" || !strings.HasPrefix(rows[1].Image, "oci:/") {
		t.Fatalf("ls rows %+v", rows)
	}
	var layers []struct {
		Layer   string   `json:"layer"`
		Bundles []string `json:"bundles"`
	}
	if err := json.Unmarshal([]byte(strata(t, "bundle", "ls", "--store", store, "--layers", "--format", "json")), &layers); err != nil {
		t.Fatal(err)
	}
	// A --copy bundle unpacks no layer into the store, but its record still names them.
	if len(layers) != 1 || layers[0].Layer != rows[1].Layers[0] || !slices.Equal(layers[0].Bundles, []string{extra, plain}) {
		t.Fatalf("ls --layers: %+v", layers)
	}
	table := strata(t, "bundle", "ls", "--store", store, "--layers")
	if !strings.Contains(table, rows[1].Layers[0]+"  "+extra+","+plain) {
		t.Fatalf("ls --layers table:\n%s", table)
	}
}

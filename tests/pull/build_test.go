package pull_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestBuildFromRegistry: strata build FROM an image in the registry (a RUN
// removing one of its files and adding one), run from the result; a rebuild
// takes every step from the cache, gives the same digest and fetches no
// layer again; the image pushed with -t docker:// pulls back and runs.
func TestBuildFromRegistry(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "from the registry")
	reg.push(t, img.Layout, "x:1", false, "")
	ctx := t.TempDir()
	file := fmt.Sprintf("FROM %s\nRUN rm /etc/message && echo built > /etc/built\nCMD [\"cat\", \"/etc/built\"]\n", reg.ref("x:1"))
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	build := func() string {
		return strings.TrimSpace(strata(t, nil, "build", "--store", store, "--cgroup-parent", tu.CgroupParent, "-t", "oci:"+out+":v1", ctx))
	}
	first := build()
	before := len(reg.blobGets(t))
	if second := build(); second != first {
		t.Errorf("rebuild gave %s, the first build %s", second, first)
	}
	config := readManifest(t, strings.TrimSuffix(strings.TrimPrefix(img.Layout, "oci:"), ":v1"), img.Manifest).Config.Digest.String()
	for _, d := range reg.blobGets(t)[before:] {
		if d != config {
			t.Errorf("the cached rebuild fetched blob %s; only the config (%s) may be read again", d, config)
		}
	}
	b := newBundle(t)
	strata(t, nil, "bundle", "create", b, "--store", store, "--image", "oci:"+out+":v1")
	t.Cleanup(func() { strataResult(nil, "bundle", "rm", "--force", b) })
	if got := runBundle(t, b); got != "built\n" {
		t.Errorf("container printed %q", got)
	}

	// -t docker:// pushes what it built (strata push's code): the registry
	// has the digest the build printed, and the image pulls back and runs.
	// A second push sends nothing the registry has.
	pushed := strings.TrimSpace(strata(t, nil, "build", "--store", store, "--cgroup-parent", tu.CgroupParent, "-t", reg.ref("built:1"), ctx))
	if pushed != first {
		t.Errorf("build -t docker:// printed %s, the layout build %s", pushed, first)
	}
	_, errOut, err := strataResult(nil, "build", "--store", store, "--cgroup-parent", tu.CgroupParent, "-t", reg.ref("built:1"), ctx)
	if err != nil || !strings.Contains(errOut, "0 blobs uploaded") {
		t.Errorf("a second push: %v\n%s", err, errOut)
	}
	fresh := t.TempDir()
	if got := strings.TrimSpace(strata(t, nil, "pull", "--store", fresh, reg.ref("built:1"))); got != first {
		t.Errorf("pull of the pushed image: manifest %s, built %s", got, first)
	}
	b2 := newBundle(t)
	strata(t, nil, "bundle", "create", reg.ref("built:1"), b2, "--store", fresh)
	t.Cleanup(func() { strataResult(nil, "bundle", "rm", "--force", b2) })
	if got := runBundle(t, b2); got != "built\n" {
		t.Errorf("container of the pulled-back image printed %q", got)
	}
}

package pull_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestPullCreateRun: a three-layer image pushed by skopeo is pulled into
// the store (every layer fetched once), a second pull fetches no layer, and
// a bundle made from the same reference runs.
func TestPullCreateRun(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "hello from the registry")
	reg.push(t, img.Layout, "x:1", false, "")
	store := t.TempDir()
	m := readManifest(t, strings.TrimSuffix(strings.TrimPrefix(img.Layout, "oci:"), ":v1"), img.Manifest)

	before := len(reg.blobGets(t))
	out := strata(t, nil, "pull", "--store", store, reg.ref("x:1"))
	if got := strings.TrimSpace(out); got != img.Manifest.Digest.String() {
		t.Errorf("pull printed %q, want the manifest digest %s", got, img.Manifest.Digest)
	}
	fetched := reg.blobGets(t)[before:]
	for _, l := range m.Layers {
		if n := count(fetched, l.Digest.String()); n != 1 {
			t.Errorf("first pull fetched layer %s %d times, want once (fetched: %v)", l.Digest, n, fetched)
		}
	}
	if n := len(storeLayers(t, store)); n != 3 {
		t.Errorf("store has %d layers after the pull, want 3", n)
	}

	before = len(reg.blobGets(t))
	strata(t, nil, "pull", "--store", store, reg.ref("x:1"))
	b := newBundle(t)
	strata(t, nil, "bundle", "create", b, "--store", store, "--image", reg.ref("x:1"))
	for _, d := range reg.blobGets(t)[before:] {
		if d != m.Config.Digest.String() {
			t.Errorf("second pull and create fetched blob %s again; only the config (%s) may be re-read", d, m.Config.Digest)
		}
	}
	if got := runBundle(t, b); got != "hello from the registry\n" {
		t.Errorf("container printed %q", got)
	}
	strata(t, nil, "bundle", "rm", b)
}

// TestPullAuth: a registry with htpasswd credentials refuses an anonymous
// pull and a wrong password, naming the registry, and takes the right ones
// from ~/.docker/config.json ($DOCKER_CONFIG) or from
// $XDG_RUNTIME_DIR/containers/auth.json.
func TestPullAuth(t *testing.T) {
	reg := startRegistry(t, "alice", "s3cret")
	img := multiLayerImage(t, "authenticated")
	reg.push(t, img.Layout, "private/x:1", false, "alice:s3cret")
	ref := reg.ref("private/x:1")

	home := t.TempDir()
	dockerDir := filepath.Join(home, ".docker")
	runDir := filepath.Join(home, "run")
	env := []string{"HOME=" + home, "DOCKER_CONFIG=" + dockerDir, "XDG_RUNTIME_DIR=" + runDir, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "REGISTRY_AUTH_FILE=" + filepath.Join(home, "none.json")}
	writeAuth := func(file, password string) {
		t.Helper()
		auth := base64.StdEncoding.EncodeToString([]byte("alice:" + password))
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(`{"auths":{"`+reg.Addr+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	store := filepath.Join(t.TempDir(), "store")
	for _, password := range []string{"", "wrong"} {
		if password != "" {
			writeAuth(filepath.Join(dockerDir, "config.json"), password)
		}
		errOut := strataFails(t, env, "pull", "--store", store, ref)
		if !strings.Contains(errOut, "authentication failed") || !strings.Contains(errOut, reg.Addr) {
			t.Errorf("password %q: error does not say authentication failed at %s: %s", password, reg.Addr, errOut)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("password %q: a refused pull made the store %s", password, store)
		}
	}

	writeAuth(filepath.Join(dockerDir, "config.json"), "s3cret")
	strata(t, env, "pull", "--store", store, ref)
	if n := len(storeLayers(t, store)); n != 3 {
		t.Errorf("store has %d layers after a pull with config.json credentials, want 3", n)
	}

	os.RemoveAll(dockerDir)
	writeAuth(filepath.Join(runDir, "containers/auth.json"), "s3cret")
	store2 := t.TempDir()
	strata(t, env, "pull", "--store", store2, ref)
	if n := len(storeLayers(t, store2)); n != 3 {
		t.Errorf("store has %d layers after a pull with auth.json credentials, want 3", n)
	}
}

// TestPullManifestList: from a manifest list of two platforms pushed with
// skopeo --all, pull takes the host's image, or the one --platform names.
func TestPullManifestList(t *testing.T) {
	reg := startRegistry(t, "", "")
	layout, host, other, otherPlatform := platformIndex(t)
	reg.push(t, layout, "multi:1", true, "")

	store := t.TempDir()
	if got := strings.TrimSpace(strata(t, nil, "pull", "--store", store, reg.ref("multi:1"))); got != host.Digest.String() {
		t.Errorf("pull chose manifest %s, want the host's %s", got, host.Digest)
	}
	b := newBundle(t)
	strata(t, nil, "bundle", "create", b, "--store", store, "--image", reg.ref("multi:1"))
	if got := runBundle(t, b); got != "image for the host\n" {
		t.Errorf("container printed %q, want the host image's message", got)
	}
	strata(t, nil, "bundle", "rm", b)

	if got := strings.TrimSpace(strata(t, nil, "pull", "--store", store, "--platform", otherPlatform, reg.ref("multi:1"))); got != other.Digest.String() {
		t.Errorf("pull --platform %s chose manifest %s, want %s", otherPlatform, got, other.Digest)
	}
	// By digest, the manifest list resolves the same way.
	byDigest := reg.ref("multi@" + host.Digest.String())
	if got := strings.TrimSpace(strata(t, nil, "pull", "--store", store, byDigest)); got != host.Digest.String() {
		t.Errorf("pull %s printed %s", byDigest, got)
	}
	errOut := strataFails(t, nil, "pull", "--store", store, "--platform", "linux/s390x", reg.ref("multi:1"))
	if !strings.Contains(errOut, "linux/s390x") || !strings.Contains(errOut, otherPlatform) {
		t.Errorf("a platform the list lacks is not refused by name, with the ones it has: %s", errOut)
	}
}

// newBundle returns a bundle path that does not exist yet, whose rootfs
// mount the cleanup removes even if the test fails first.
func newBundle(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	t.Cleanup(func() { unix.Unmount(filepath.Join(dir, "rootfs"), unix.MNT_DETACH) })
	return dir
}

// runBundle runs a bundle to completion as a testutil container (own
// cgroup, deleted and leak-checked after) and returns its output.
func runBundle(t *testing.T, bundleDir string) string {
	t.Helper()
	r := tu.BundleContainer(t, bundleDir).Run()
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	return r.Stdout
}

func count(list []string, s string) int {
	n := 0
	for i := slices.Index(list, s); i >= 0; i = slices.Index(list, s) {
		n++
		list = list[i+1:]
	}
	return n
}

package pull_test

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPushPullBack: strata push of an OCI layout, an oci-archive and a
// docker-archive sends every blob once, keeps the layout's manifest digest,
// and the image pulls back and runs; a second push of the same image sends
// no blob and says so.
func TestPushPullBack(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "pushed by strata")
	layoutDir := strings.TrimSuffix(strings.TrimPrefix(img.Layout, "oci:"), ":v1")
	m := readManifest(t, layoutDir, img.Manifest)

	stdout, stderr := strataBoth(t, nil, "push", img.Layout, reg.ref("pushed:1"))
	if got := strings.TrimSpace(stdout); got != img.Manifest.Digest.String() {
		t.Errorf("push printed %q, want the layout's manifest digest %s", got, img.Manifest.Digest)
	}
	if !strings.Contains(stderr, "4 blobs uploaded, 0 skipped") {
		t.Errorf("first push: want 4 blobs (3 layers and the config) uploaded, none skipped: %s", stderr)
	}
	for _, l := range m.Layers {
		if _, err := os.Stat(reg.blobPath(l.Digest.String())); err != nil {
			t.Errorf("layer %s is not in the registry's storage after the push: %v", l.Digest, err)
		}
	}

	before := len(reg.blobUploads(t))
	_, stderr = strataBoth(t, nil, "push", img.Layout, reg.ref("pushed:1"))
	if !strings.Contains(stderr, "0 blobs uploaded, 4 skipped") {
		t.Errorf("second push: want no blob uploaded, 4 skipped: %s", stderr)
	}
	if ups := reg.blobUploads(t)[before:]; len(ups) != 0 {
		t.Errorf("second push started %d blob uploads at the registry: %v", len(ups), ups)
	}

	store := t.TempDir()
	if got := strings.TrimSpace(strata(t, nil, "pull", "--store", store, reg.ref("pushed:1"))); got != img.Manifest.Digest.String() {
		t.Errorf("pull of the pushed image resolved %s, want %s", got, img.Manifest.Digest)
	}
	b := newBundle(t)
	strata(t, nil, "bundle", "create", b, "--store", store, "--image", reg.ref("pushed:1"))
	if got := runBundle(t, b); got != "pushed by strata\n" {
		t.Errorf("the pulled-back image printed %q", got)
	}
	strata(t, nil, "bundle", "rm", b)

	// The archives other tools write: skopeo makes them from the layout.
	dir := t.TempDir()
	for _, c := range []struct{ src, skopeoDest string }{
		{"oci-archive:" + filepath.Join(dir, "img.tar"), "oci-archive:" + filepath.Join(dir, "img.tar") + ":v1"},
		{"docker-archive:" + filepath.Join(dir, "docker.tar"), "docker-archive:" + filepath.Join(dir, "docker.tar") + ":x/y:v1"},
	} {
		if out, err := exec.Command("skopeo", "copy", "--quiet", img.Layout, c.skopeoDest).CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy %s %s: %v\n%s", img.Layout, c.skopeoDest, err, out)
		}
		stdout, stderr := strataBoth(t, nil, "push", c.src, reg.ref("archive:1"))
		pushed := strings.TrimSpace(stdout)
		t.Logf("push %s: %s", c.src, stderr)
		store := t.TempDir()
		if got := strings.TrimSpace(strata(t, nil, "pull", "--store", store, reg.ref("archive:1"))); got != pushed {
			t.Errorf("%s: push printed %s but a pull resolves %s", c.src, pushed, got)
		}
		b := newBundle(t)
		strata(t, nil, "bundle", "create", reg.ref("archive:1"), b, "--store", store)
		if got := runBundle(t, b); got != "pushed by strata\n" {
			t.Errorf("%s: the pulled-back image printed %q", c.src, got)
		}
		strata(t, nil, "bundle", "rm", b)
	}
}

// TestPushRefused: bad credentials and an unreachable registry are refused
// naming the registry; the registry gets no blob or manifest, and nothing is
// left on disk (strata's TMPDIR stays empty, the source layout unchanged).
func TestPushRefused(t *testing.T) {
	reg := startRegistry(t, "alice", "s3cret")
	img := multiLayerImage(t, "refused")
	layoutDir := strings.TrimSuffix(strings.TrimPrefix(img.Layout, "oci:"), ":v1")
	layoutBefore := treeList(t, layoutDir)

	home := t.TempDir()
	dockerDir := filepath.Join(home, ".docker")
	tmp := t.TempDir()
	env := []string{"HOME=" + home, "DOCKER_CONFIG=" + dockerDir, "XDG_RUNTIME_DIR=" + filepath.Join(home, "run"), "TMPDIR=" + tmp}
	auth := base64.StdEncoding.EncodeToString([]byte("alice:wrong"))
	if err := os.MkdirAll(dockerDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(`{"auths":{"`+reg.Addr+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := freePort(t)
	for _, c := range []struct{ dest, want string }{
		{reg.ref("private/x:1"), "authentication failed"},
		{"docker://" + closed + "/x:1", closed},
	} {
		errOut := strataFails(t, env, "push", img.Layout, c.dest)
		t.Logf("refusal: %s", errOut)
		if !strings.Contains(errOut, c.want) || !strings.Contains(errOut, strings.TrimPrefix(c.dest, "docker://")) {
			t.Errorf("push to %s: the error does not say %q naming the destination: %s", c.dest, c.want, errOut)
		}
		if left := dirNames(t, tmp); len(left) != 0 {
			t.Errorf("push to %s left %v in TMPDIR", c.dest, left)
		}
		if after := treeList(t, layoutDir); !slices.Equal(after, layoutBefore) {
			t.Errorf("push to %s changed the source layout: %v, was %v", c.dest, after, layoutBefore)
		}
	}
	if repos := dirNames(t, filepath.Join(reg.Storage, "docker/registry/v2/repositories")); len(repos) != 0 {
		t.Errorf("refused pushes left repositories in the registry: %v", repos)
	}
	if ups := reg.blobUploads(t); len(ups) != 0 {
		t.Errorf("refused pushes started blob uploads: %v", ups)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"push", img.Layout, "oci:/elsewhere:v1"}, "not a registry reference"},
		{[]string{"push", reg.ref("x:1"), reg.ref("y:1")}, "expected a local image"},
		{[]string{"push", "oci:" + filepath.Join(t.TempDir(), "none") + ":v1", reg.ref("x:1")}, "none"},
		{[]string{"push", img.Layout}, "expected SRC and docker://"},
	} {
		if errOut := strataFails(t, env, c.args...); !strings.Contains(errOut, c.want) {
			t.Errorf("strata %s: the error does not say %q: %s", strings.Join(c.args, " "), c.want, errOut)
		}
	}
}

// TestCreatePositionalImage: `bundle create IMAGE BUNDLE` takes the image
// first, as the issue writes it; both forms at once, a first argument
// without a transport and an unknown transport are refused by name,
// leaving no bundle.
func TestCreatePositionalImage(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "positional")
	reg.push(t, img.Layout, "x:1", false, "")
	store := t.TempDir()
	b := newBundle(t)
	strata(t, nil, "bundle", "create", reg.ref("x:1"), b, "--store", store, "--", "/bin/echo", "args after --")
	if got := runBundle(t, b); got != "args after --\n" {
		t.Errorf("bundle from the positional image printed %q", got)
	}
	strata(t, nil, "bundle", "rm", b)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{reg.ref("x:1"), b, "--image", reg.ref("x:1")}, "image given twice"},
		{[]string{"nosuch://x/y:1", b}, `unknown transport "nosuch"`},
		{[]string{"busybox", b}, `first argument "busybox"`},
		{[]string{reg.ref("x:1")}, "expected BUNDLE after it"},
		{[]string{b}, "no image"},
	} {
		args := append([]string{"bundle", "create", "--store", store}, c.args...)
		if errOut := strataFails(t, nil, args...); !strings.Contains(errOut, c.want) {
			t.Errorf("strata %s: the error does not say %q: %s", strings.Join(args, " "), c.want, errOut)
		}
		if _, err := os.Stat(b); !os.IsNotExist(err) {
			t.Errorf("strata %s: a refused create left %s", strings.Join(args, " "), b)
		}
	}
}

var blobUpload = regexp.MustCompile(`"(POST|PATCH|PUT) /v2/[^ ]*/blobs/uploads/[^"]*"`)

// blobUploads lists the blob upload requests the registry has logged.
func (r *registry) blobUploads(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(r.Log)
	if err != nil {
		t.Fatal(err)
	}
	return blobUpload.FindAllString(string(data), -1)
}

// strataBoth runs a command that must succeed and returns stdout and stderr.
func strataBoth(t *testing.T, env []string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := strataResult(env, args...)
	if err != nil {
		t.Fatalf("strata %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out, errOut
}

// treeList is every path under dir, sorted.
func treeList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		out = append(out, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

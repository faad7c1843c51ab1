package pull_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullCorruptBlob: a layer whose bytes in the registry's storage no
// longer match its digest is refused, by pull and by bundle create, naming
// the digest; the store keeps no layer of the image (the good ones this
// pull unpacked are removed again) and no bundle is left.
func TestPullCorruptBlob(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "corrupt")
	reg.push(t, img.Layout, "x:1", false, "")
	junk := make([]byte, img.Big.Size)
	rand.Read(junk)
	if err := os.WriteFile(reg.blobPath(img.Big.Digest.String()), junk, 0o644); err != nil {
		t.Fatal(err)
	}

	store := t.TempDir()
	errOut := strataFails(t, nil, "pull", "--store", store, reg.ref("x:1"))
	t.Logf("refusal: %s", errOut)
	if !strings.Contains(errOut, img.Big.Digest.String()) {
		t.Errorf("the refusal does not name the corrupt blob %s: %s", img.Big.Digest, errOut)
	}
	assertStoreClean(t, store)

	b := newBundle(t)
	errOut = strataFails(t, nil, "bundle", "create", b, "--store", store, "--image", reg.ref("x:1"))
	if !strings.Contains(errOut, img.Big.Digest.String()) {
		t.Errorf("bundle create's refusal does not name the corrupt blob %s: %s", img.Big.Digest, errOut)
	}
	assertStoreClean(t, store)
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Errorf("a refused bundle create left %s", b)
	}
}

// TestPullMissingBlob: a manifest naming a blob the registry cannot serve
// is refused naming the blob, leaving the store empty.
func TestPullMissingBlob(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "missing")
	reg.push(t, img.Layout, "x:1", false, "")
	if err := os.RemoveAll(filepath.Dir(reg.blobPath(img.Big.Digest.String()))); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	errOut := strataFails(t, nil, "pull", "--store", store, reg.ref("x:1"))
	t.Logf("refusal: %s", errOut)
	if !strings.Contains(errOut, img.Big.Digest.String()) {
		t.Errorf("the refusal does not name the missing blob %s: %s", img.Big.Digest, errOut)
	}
	assertStoreClean(t, store)
}

// TestPullBadReferences: an unreachable registry, an unknown tag or
// repository, and references that are not registry ones are refused by
// name before the store is made.
func TestPullBadReferences(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "refs")
	reg.push(t, img.Layout, "x:1", false, "")
	closed := freePort(t)
	for _, c := range []struct{ ref, want string }{
		{"docker://" + closed + "/x:1", closed},
		{reg.ref("x:nope"), `tag "nope"`},
		{reg.ref("nosuch:1"), reg.Addr + "/nosuch"},
		{"docker://" + reg.Addr + "/UPPER:1", "docker://" + reg.Addr + "/UPPER:1"},
		{"oci:/some/layout:v1", "not a registry reference"},
	} {
		store := filepath.Join(t.TempDir(), "store")
		errOut := strataFails(t, nil, "pull", "--store", store, c.ref)
		t.Logf("refusal: %s", errOut)
		if !strings.Contains(errOut, c.want) {
			t.Errorf("pull %s: error does not name %q: %s", c.ref, c.want, errOut)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("pull %s: a refused pull made the store", c.ref)
		}
		b := newBundle(t)
		if !strings.HasPrefix(c.ref, "oci:") {
			strataFails(t, nil, "bundle", "create", b, "--store", store, "--image", c.ref)
			if _, err := os.Stat(b); !os.IsNotExist(err) {
				t.Errorf("bundle create %s: a refused create left the bundle", c.ref)
			}
		}
	}
}

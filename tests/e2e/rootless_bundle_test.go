//go:build e2e

package e2e

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-runtime/strata/image/imagetest"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestRootlessBundle: the bundle builder as a normal user. The user's store
// unpacks an image whose second layer has a file of uid 1000, a device node,
// an opaque /etc and a whiteout; two bundles of that store run at once; the
// user's diff of one reads its changes back as a layer; rm and gc leave no
// mount, no bundle and no container state.
func TestRootlessBundle(t *testing.T) {
	tu.StrataOnly(t, "the bundle builder is strata's")
	u := rootlessLogin(t)
	dir := workDir(t, "rootless-bundle")
	layout := filepath.Join(dir, "layout")
	second := imagetest.Tar(t,
		imagetest.Entry{Name: "owned", Body: "x", Mode: 0o600, UID: 1000, GID: 1000},
		imagetest.Entry{Name: "dev/", Type: tar.TypeDir, Mode: 0o755},
		imagetest.Entry{Name: "dev/zero", Type: tar.TypeChar, Major: 1, Minor: 5, Mode: 0o666},
		imagetest.Entry{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		imagetest.Entry{Name: "etc/.wh..wh..opq"},
		imagetest.Entry{Name: "etc/only", Body: "only"},
		imagetest.Entry{Name: "bin/.wh.ls"},
	)
	imagetest.WriteLayout(t, layout, "latest", imagetest.Image{Layers: [][]byte{busyboxLayer(t), second}, Config: imageConfig})
	store := u.userDir(t, dir, "store")
	home := u.userDir(t, dir, "bundles")
	b1, b2 := filepath.Join(home, "b1"), filepath.Join(home, "b2")
	before := u.runtimeEntries()
	strata := func(args ...string) tu.Result {
		return tu.Exec(t, u.command(home, nil, tu.RuntimePath(), args...))
	}
	ref := "oci:" + layout + ":latest"
	script := "id -u; stat -c %u:%g /owned; ls /etc; ls /bin/ls 2>/dev/null || echo no-ls; cat /proc/self/uid_map; echo new > /new"
	must(t, strata("bundle", "create", "--store", store, ref, b1, "--", "sh", "-c", script))
	must(t, strata("bundle", "create", "--store", store, ref, b2, "--", "sleep", "30"))
	t.Cleanup(func() { u.removeAsRoot(t, b1, b2) })

	// The store keeps the image's owner as the user's subordinate id.
	layerFile := findLayerFile(t, store, "owned")
	if st := statOwner(t, layerFile); st != [2]int{u.subuid + 999, u.subgid + 999} {
		t.Errorf("%s is owned by %v on the host, want the subordinate ids %d:%d of the image's 1000:1000", layerFile, st, u.subuid+999, u.subgid+999)
	}
	if m := mountsUnder(dir); len(m) > 0 {
		t.Errorf("bundle create left mounts in the host's namespace: %v", m)
	}

	id2 := tu.UniqueID(t)
	t.Cleanup(func() { strata("delete", "--force", id2) })
	must(t, tu.Exec(t, u.command(b2, nil, tu.RuntimePath(), "run", "--detach", id2)))
	id1 := tu.UniqueID(t)
	t.Cleanup(func() { strata("delete", "--force", id1) })
	out := must(t, tu.Exec(t, u.command(b1, nil, tu.RuntimePath(), "run", id1)))
	want := fmt.Sprintf("0\n1000:1000\nonly\nno-ls\n0 %d 1\n1 %d 65536\n", u.uid, u.subuid)
	if normalizeMaps(out) != want {
		t.Errorf("inside b1: %q, want %q (root the user, the layer's file its 1000, the opaque /etc and the whiteout applied)", out, want)
	}
	if state := must(t, strata("state", id2)); !strings.Contains(state, `"running"`) {
		t.Errorf("b2's container is not running beside b1's: %s", state)
	}
	if st := statOwner(t, filepath.Join(b1, "upper", "new")); st != [2]int{u.uid, u.gid} {
		t.Errorf("b1's new file is owned by %v on the host, want the user's %d:%d", st, u.uid, u.gid)
	}
	must(t, strata("kill", id2, "KILL"))
	must(t, strata("delete", "--force", id2))

	// The user's diff reads upper in the same namespace: container ids.
	layer := filepath.Join(home, "b1.tar")
	must(t, strata("bundle", "diff", b1, "--compress", "none", "-o", layer))
	entries := tarEntries(t, layer)
	if e, ok := entries["new"]; !ok || e.Uid != 0 || e.Gid != 0 {
		t.Errorf("diff of b1: entry new %+v (present %v), want one owned by 0:0; entries %v", e, ok, keys(entries))
	}

	must(t, strata("bundle", "rm", b1, b2))
	for _, b := range []string{b1, b2} {
		if _, err := os.Stat(b); !os.IsNotExist(err) {
			t.Errorf("bundle rm left %s (%v)", b, err)
		}
	}
	gc := must(t, strata("bundle", "gc", "--store", store))
	if strings.Count(gc, "removed layer") != 2 {
		t.Errorf("bundle gc after rm: %q, want both layers removed", gc)
	}
	if m := mountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	u.nothingLeft(t, before)

	// build is root's: refused by name, before it makes anything.
	r := strata("build", "-t", "oci:"+filepath.Join(home, "built")+":v1", home)
	if r.Code == 0 || !strings.Contains(r.Stderr, "build: needs root") {
		t.Errorf("build as a normal user: %s; want a refusal saying it needs root", r)
	}
	if _, err := os.Stat(filepath.Join(home, "built")); !os.IsNotExist(err) {
		t.Errorf("the refused build made %s (%v)", filepath.Join(home, "built"), err)
	}
}

// removeAsRoot removes what a failed test left of the user's bundles.
func (u *loginUser) removeAsRoot(t *testing.T, dirs ...string) {
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("removing %s: %v", d, err)
		}
	}
}

// findLayerFile is the path of name in the store's one layer that has it.
func findLayerFile(t *testing.T, store, name string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(store, "layers", "sha256", "*", name))
	if err != nil || len(matches) != 1 {
		t.Fatalf("layers of %s with %s: %v (%v)", store, name, matches, err)
	}
	return matches[0]
}

func statOwner(t *testing.T, p string) [2]int {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]int{int(st.Uid), int(st.Gid)}
}

// tarEntries reads the headers of an uncompressed tar, by name.
func tarEntries(t *testing.T, p string) map[string]*tar.Header {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		entries[strings.TrimPrefix(h.Name, "./")] = h
	}
	return entries
}

func keys(m map[string]*tar.Header) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

package bundle_test

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestUsernsBundlesShareStore: two bundles of one image in one store, with
// different user namespace maps, run at once. In each the container's root
// owns the rootfs (0:0 through the idmapped layers), a file it makes lands
// in its upper directory owned by the host id its root maps to, and the
// store's layer files stay 0:0 on the host. A remount (as after a reboot)
// idmaps the layers again; rm and gc leave nothing.
func TestUsernsBundlesShareStore(t *testing.T) {
	layout := busyboxLayout(t)
	store := t.TempDir()
	type run struct {
		host   int
		bundle string
		c      *tu.Container
	}
	runs := []*run{{host: 100000}, {host: 200000}}
	for _, r := range runs {
		r.bundle = reachableBundle(t)
		strata(t, "bundle", "create", "oci:"+layout+":v1", r.bundle, "--store", store,
			"--uidmap", fmt.Sprintf("0:%d:65536", r.host), "--", "sleep", "1000")
		// As after a reboot: the remount must idmap the layers again.
		if err := unix.Unmount(filepath.Join(r.bundle, "rootfs"), 0); err != nil {
			t.Fatal(err)
		}
		strata(t, "bundle", "mount", r.bundle)
		assertOwner(t, filepath.Join(r.bundle, "rootfs/bin/busybox"), r.host)
		r.c = tu.BundleContainer(t, r.bundle)
		tu.Must(t, r.c.Runtime("run", "-d", "--bundle", r.bundle, r.c.ID))
	}
	for _, r := range runs {
		exec := func(script string) string {
			return tu.Must(t, r.c.Runtime("exec", r.c.ID, "sh", "-c", script)).Stdout
		}
		if got, want := exec("cat /proc/self/uid_map"), fmt.Sprintf("0 %d 65536", r.host); strings.Join(strings.Fields(got), " ") != want {
			t.Errorf("bundle %d: uid_map %q, want %q", r.host, got, want)
		}
		if got := exec("stat -c %u:%g /bin/busybox / /bin"); got != "0:0\n0:0\n0:0\n" {
			t.Errorf("bundle %d: the container sees its rootfs owned by %q, want its own root 0:0", r.host, got)
		}
		exec("echo made > /made-by-root && mkdir /dir-by-root && chown 1:1 /made-by-root")
		assertOwner(t, filepath.Join(r.bundle, "upper/dir-by-root"), r.host)
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(r.bundle, "upper/made-by-root"), &st); err != nil {
			t.Fatal(err)
		} else if int(st.Uid) != r.host+1 || int(st.Gid) != r.host+1 {
			t.Errorf("bundle %d: a file chowned to 1:1 in the container is %d:%d in upper, want %d:%d", r.host, st.Uid, st.Gid, r.host+1, r.host+1)
		}
	}
	layers := storeLayerFiles(t, store, "bin/busybox")
	if len(layers) == 0 {
		t.Fatalf("no layer of store %s holds bin/busybox", store)
	}
	for _, f := range layers {
		assertOwner(t, f, 0)
	}
	if out := strata(t, "bundle", "ls", "--store", store); strings.Count(out, "mounted") != 2 {
		t.Errorf("bundle ls does not show both bundles mounted:\n%s", out)
	}

	// diff reads upper with the container's ids, as a layer must hold them.
	for _, r := range runs {
		layer := filepath.Join(t.TempDir(), "diff.tar")
		strata(t, "bundle", "diff", r.bundle, "-o", layer, "--compress", "none")
		got := tarOwners(t, layer)
		for name, want := range map[string][2]int{"made-by-root": {1, 1}, "dir-by-root/": {0, 0}} {
			if o, ok := got[name]; !ok || o != want {
				t.Errorf("bundle %d: diff has %s owned by %v (present: %v), want %v", r.host, name, o, ok, want)
			}
		}
	}

	for _, r := range runs {
		tu.Must(t, r.c.Runtime("delete", "--force", r.c.ID))
		strata(t, "bundle", "rm", r.bundle)
		if _, err := os.Stat(r.bundle); !os.IsNotExist(err) {
			t.Errorf("bundle rm left %s (%v)", r.bundle, err)
		}
		assertNoMountsUnder(t, filepath.Dir(r.bundle))
	}
	strata(t, "bundle", "gc", "--store", store)
	if left := storeLayerFiles(t, store, ""); len(left) != 0 {
		t.Errorf("gc after rm left layers %v", left)
	}
	assertNoMountsUnder(t, store)
}

// TestUsernsBundleRefused: maps a bundle cannot use are refused by name
// before anything is made.
func TestUsernsBundleRefused(t *testing.T) {
	layout := "oci:" + busyboxLayout(t) + ":v1"
	store := filepath.Join(t.TempDir(), "store")
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--uidmap", "1:100000:10"}, "no range maps container id 0"},
		{[]string{"--uidmap", "0:100000"}, "expected CONTAINER:HOST:SIZE"},
		{[]string{"--uidmap", "0:100000:0"}, "SIZE must be at least 1"},
		{[]string{"--uidmap", "0:100000:100", "--uidmap", "50:300000:10"}, "overlaps"},
		{[]string{"--gidmap", "0:100000:65536"}, "--gidmap needs --uidmap"},
		{[]string{"--uidmap", "0:100000:65536", "--gidmap", "5:100000:1"}, "--gidmap: no range maps container id 0"},
		{[]string{"--uidmap", "0:100000:65536", "--copy"}, "--uidmap with --copy"},
	} {
		b := newBundle(t)
		args := append([]string{"bundle", "create", layout, b, "--store", store}, c.flags...)
		_, stderr, err := strataResult(args...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("strata %s: want a refusal saying %q, got %v: %s", strings.Join(args, " "), c.want, err, stderr)
		}
		if _, err := os.Stat(b); !os.IsNotExist(err) {
			t.Errorf("strata %s: a refused create left %s", strings.Join(args, " "), b)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("strata %s: a refused create made the store", strings.Join(args, " "))
		}
	}
}

// reachableBundle is newBundle in directories a mapped root may pass
// through: t.TempDir makes its directory and its parent 0700.
func reachableBundle(t *testing.T) string {
	b := newBundle(t)
	for _, d := range []string{filepath.Dir(b), filepath.Dir(filepath.Dir(b))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func assertOwner(t *testing.T, path string, id int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != id || int(st.Gid) != id {
		t.Errorf("%s is owned by %d:%d on the host, want %d:%d", path, st.Uid, st.Gid, id, id)
	}
}

// storeLayerFiles lists rel in every layer of the store that has it (each
// layer directory for rel "").
func storeLayerFiles(t *testing.T, store, rel string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(store, "layers/sha256/*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if _, err := os.Lstat(filepath.Join(d, rel)); err == nil {
			out = append(out, filepath.Join(d, rel))
		}
	}
	return out
}

// tarOwners maps each entry of a layer tar to its uid and gid.
func tarOwners(t *testing.T, file string) map[string][2]int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][2]int{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = [2]int{hdr.Uid, hdr.Gid}
	}
}

package bundle

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/overlay"
)

// TestIDMappedBundles: bundles of one store with different user namespace
// maps, mounted at once, show every file of the image shifted by their map
// (the host's view of what the container sees as its own ids), while a
// bundle without a map and the store's layers keep the image's ids. A file
// made by a mapped root lands in upper with that host id. A remount idmaps
// again; Remove leaves no mount, not even of the scratch namespace.
func TestIDMappedBundles(t *testing.T) {
	requireRoot(t)
	testIDMappedBundles(t, "")
}

// TestIDMappedBundlesClassic: the same through mount(2)'s single lowerdir=
// option, as on kernels before 6.8 (Debian 12's 6.1), where the idmapped
// layers are named by paths relative to the scratch directory.
func TestIDMappedBundlesClassic(t *testing.T) {
	requireRoot(t)
	t.Cleanup(overlay.UseClassic())
	testIDMappedBundles(t, "lowerdir=0:1:")
}

// testIDMappedBundles runs the test; a mapped bundle's mount must show
// option, if set.
func testIDMappedBundles(t *testing.T, option string) {
	layout := fixtureLayout(t, v1.ImageConfig{})
	store := t.TempDir()
	plain := create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store})
	want := owners(t, filepath.Join(plain, rootfsDir))
	if len(want) < 3 {
		t.Fatalf("the fixture rootfs has only %d entries", len(want))
	}

	hosts := []uint32{100000, 200000}
	dirs := make([]string, len(hosts))
	for i, h := range hosts {
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: h, Size: 65536}}
		dirs[i] = create(t, CreateOptions{Image: ociRef(layout, "v1"), Store: store, Spec: SpecOptions{UIDMappings: m}})
		// The mapped root must reach its rootfs: t.TempDir makes its
		// directory and its parent 0700.
		for _, d := range []string{filepath.Dir(dirs[i]), filepath.Dir(filepath.Dir(dirs[i]))} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if option != "" {
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		found := false
		for _, line := range strings.Split(string(mi), "\n") {
			if strings.Contains(line, " "+filepath.Join(dirs[0], rootfsDir)+" ") {
				found = true
				if !strings.Contains(line, option) {
					t.Errorf("the mount does not show %q: %s", option, line)
				}
			}
		}
		if !found {
			t.Errorf("no mount on %s in mountinfo", filepath.Join(dirs[0], rootfsDir))
		}
	}
	for i, h := range hosts {
		root := filepath.Join(dirs[i], rootfsDir)
		checkShifted(t, root, want, h)
		if err := asFsID(h, func() error { return os.WriteFile(filepath.Join(root, "made-by-root"), []byte("x"), 0o644) }); err != nil {
			t.Fatalf("bundle mapped to %d: its root cannot write its rootfs: %v", h, err)
		}
		for _, p := range []string{"upper/made-by-root", "upper", "work"} {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dirs[i], p), &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != h || st.Gid != h {
				t.Errorf("bundle mapped to %d: %s is %d:%d, want %d:%d", h, p, st.Uid, st.Gid, h, h)
			}
		}
	}
	// Neither the plain bundle nor the store saw any of it.
	if got := owners(t, filepath.Join(plain, rootfsDir)); !equalJSON(got, want) {
		t.Errorf("the unmapped bundle's owners changed while idmapped bundles used the store")
	}
	layers, _ := filepath.Glob(filepath.Join(store, "layers/sha256/*"))
	if len(layers) == 0 {
		t.Fatalf("no layer in the store %s to check", store)
	}
	for _, l := range layers {
		for p, o := range owners(t, l) {
			if o[0] >= 65536 || o[1] >= 65536 {
				t.Errorf("store layer %s: %s is owned by %v on the host", filepath.Base(l), p, o)
			}
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), "strata-idmap") {
		t.Errorf("a scratch mount of the idmapped layers is visible in the host's namespace")
	}

	// As after a reboot.
	if err := unix.Unmount(filepath.Join(dirs[0], rootfsDir), 0); err != nil {
		t.Fatal(err)
	}
	if err := Mount(dirs[0]); err != nil {
		t.Fatal(err)
	}
	checkShifted(t, filepath.Join(dirs[0], rootfsDir), want, hosts[0])

	for _, d := range append(dirs, plain) {
		if err := Remove(d); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("Remove left %s", d)
		}
	}
	mi, _ = os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), filepath.Dir(filepath.Dir(dirs[0]))) || strings.Contains(string(mi), "strata-idmap") {
		t.Errorf("a mount is left after Remove:\n%s", mi)
	}
}

// checkShifted compares root's owners with want, each id shifted by host.
func checkShifted(t *testing.T, root string, want map[string][2]uint32, host uint32) {
	t.Helper()
	got := owners(t, root)
	for p, o := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s is missing", root, p)
		} else if g != [2]uint32{o[0] + host, o[1] + host} {
			t.Errorf("%s: %s is %v through the idmapped layers, want %v shifted by %d", root, p, g, o, host)
		}
	}
}

// owners maps each path under root (not root itself) to its uid and gid.
func owners(t *testing.T, root string) map[string][2]uint32 {
	t.Helper()
	out := map[string][2]uint32{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = [2]uint32{st.Uid, st.Gid}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// asFsID runs f with the filesystem ids id:id (and so without the
// capabilities that override file permissions), as a mapped root's writes
// reach the overlay, on a thread that ends with it.
func asFsID(id uint32, f func() error) error {
	return overlay.OnThrowawayThread(func() error {
		unix.Setfsgid(int(id))
		unix.Setfsuid(int(id))
		return f()
	})
}

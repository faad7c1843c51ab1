package bundle

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/host"
)

// probeHostID is the host id the probe maps container root to: any id
// above the ones a temporary directory is made with will do.
const probeHostID = 100000

// ProbeIDMappedLayers mounts a real overlay the way `bundle create
// --uidmap` does (mountOverlayIDMapped): one lower directory holding a
// root-owned file, idmapped to probeHostID, on a temporary target, and
// checks the file shows the mapped owner. overlayfs takes idmapped layers
// since Linux 5.19, and the layers' filesystem must take idmapped mounts
// (tmpfs only from 6.3), so it probes on the store's filesystem: in store,
// or the nearest directory above it that exists. Detail names where.
func ProbeIDMappedLayers(store string) host.Result {
	near := store
	for {
		if fi, err := os.Stat(near); err == nil && fi.IsDir() {
			break
		}
		if near == filepath.Dir(near) {
			break
		}
		near = filepath.Dir(near)
	}
	dir, err := os.MkdirTemp(near, ".strata-probe-idmap-")
	if err != nil {
		return host.Result{Reason: fmt.Sprintf("mkdtemp in %s: %v", near, err)}
	}
	defer os.RemoveAll(dir)
	res := probeIDMappedLayersIn(dir)
	if res.OK {
		res.Detail = "in " + near
	}
	return res
}

func probeIDMappedLayersIn(dir string) host.Result {
	absent := func(format string, args ...any) host.Result {
		return host.Result{Reason: fmt.Sprintf(format, args...)}
	}
	lower, upper, work, target := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "target")
	for _, d := range []string{lower, upper, work, target} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return absent("mkdir: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "f"), nil, 0o644); err != nil {
		return absent("%v", err)
	}
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: probeHostID, Size: 1}}
	if err := mountOverlayIDMapped(target, []string{lower}, upper, work, m, m); err != nil {
		return absent("%v", err)
	}
	defer unix.Unmount(target, unix.MNT_DETACH)
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(target, "f"), &st); err != nil {
		return absent("stat through the overlay: %v", err)
	}
	if st.Uid != probeHostID {
		return absent("a root-owned file shows owner %d through the idmapped layer, want %d", st.Uid, probeHostID)
	}
	return host.Result{OK: true}
}

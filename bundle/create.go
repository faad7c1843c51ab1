package bundle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
	"github.com/strata-runtime/strata/libcontainer/host"
	"github.com/strata-runtime/strata/libcontainer/overlay"
)

// CreateOptions describe a bundle to make.
type CreateOptions struct {
	Bundle   string
	Image    image.Ref
	Platform string // os/arch[/variant]; empty for the host's
	Store    string // default image.DefaultStore
	// Copy flattens the layers into a plain rootfs instead of an overlay, for
	// hosts or filesystems without overlayfs.
	Copy bool
	Spec SpecOptions
	// Debugf, if set, receives progress such as which layers were unpacked.
	Debugf func(format string, args ...any)
	// Progress shows the layers fetched from a registry (docker:// images).
	Progress *Progress
}

// Create makes a bundle from an image: layers unpacked into the store (once),
// composed on BUNDLE/rootfs, and config.json converted from the image config.
// On error nothing is left behind but layers fully unpacked into the store.
func Create(o CreateOptions) (rec *Record, err error) {
	debugf := o.Debugf
	if debugf == nil {
		debugf = func(string, ...any) {}
	}
	dir, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	// The record keeps the image's absolute path: commit, run from another
	// directory, reads the base layers from it.
	if o.Image, err = o.Image.Abs(); err != nil {
		return nil, err
	}
	// Flags are checked, and the image read, first: bad input touches nothing.
	if _, err := buildCapabilities(o.Spec.CapAdd, o.Spec.CapDrop, 0); err != nil {
		return nil, err
	}
	rootless := host.InUserNamespace()
	if rootless && len(o.Spec.UIDMappings) > 0 {
		return nil, errors.New("--uidmap: a normal user's bundle has the user namespace of the user's store (uid 0 the user, 1 and up the subordinate ids of /etc/subuid); other maps need root")
	}
	if err := checkUserNS(&o); err != nil {
		return nil, err
	}
	img, err := image.Open(o.Image, o.Platform)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	undo, err := claimDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	if o.Store == "" {
		o.Store = image.DefaultStore
	}
	store, err := image.OpenStore(o.Store)
	if err != nil {
		return nil, err
	}
	rec = &Record{
		Store:    store.Root(),
		Image:    o.Image.String(),
		Platform: o.Platform,
		Manifest: img.ManifestDigest,
		Config:   ocispec.FromBytes(img.RawConfig),
		Copy:     o.Copy,
		Created:  time.Now().UTC(),

		UIDMappings: o.Spec.UIDMappings,
		GIDMappings: o.Spec.GIDMappings,
		Rootless:    rootless,
	}
	if rootless {
		// The container's namespace maps what the store's does; the
		// record's maps stay empty: its layers are not idmapped.
		if o.Spec.UIDMappings, o.Spec.GIDMappings, err = ownIDMaps(); err != nil {
			return nil, err
		}
	}
	for _, l := range img.Layers {
		rec.Layers = append(rec.Layers, l.DiffID)
	}
	rootfs := filepath.Join(dir, rootfsDir)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, err
	}
	if o.Copy {
		if err := flatten(rootfs, img); err != nil {
			return nil, err
		}
	}
	// The store's lock is held from here to the record: gc cannot remove
	// what this bundle uses before the bundle names it. Layers unpack
	// before it, pinned, so gc never waits behind an unpack.
	// A registry's layers are fetched in parallel first (a local image's
	// unpack one by one in holdLayers); on failure, none of them stays.
	if o.Image.Transport == image.Docker && !o.Copy {
		_, release, err := fetchLayers(store, img, o.Progress)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	unlock, err := holdLayers(store, img, o.Copy, debugf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Commit extends these later, even if the image itself is gone by then.
	for _, blob := range [][]byte{img.RawManifest, img.RawConfig} {
		if _, err := store.PutBlob(blob); err != nil {
			return nil, err
		}
	}
	if !o.Copy {
		if err := mountRecord(dir, rec); err != nil {
			return nil, err
		}
	}
	spec, err := BuildSpec(img.Config, rootfs, o.Spec)
	if err != nil {
		return nil, err
	}
	if rootless {
		// A normal user's container has no cgroup to apply them in
		// (strata warns), unless --systemd-cgroup gives it a scope.
		spec.Linux.Resources = nil
	}
	if rootless && !o.Copy {
		lowers, err := recordLowers(dir, store, rec)
		if err != nil {
			return nil, err
		}
		if err := annotateOverlay(spec, lowers, filepath.Join(dir, upperDir), filepath.Join(dir, workDir)); err != nil {
			return nil, err
		}
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), spec); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, RecordFile), rec); err != nil {
		return nil, err
	}
	if err := store.AddBundle(dir); err != nil {
		return nil, err
	}
	return rec, nil
}

// checkUserNS checks the id maps of a bundle with a user namespace; the
// gid map defaults to the uid map, as in podman.
func checkUserNS(o *CreateOptions) error {
	sp := &o.Spec
	if len(sp.UIDMappings) == 0 {
		if len(sp.GIDMappings) > 0 {
			return errors.New("--gidmap needs --uidmap too: the user namespace maps both")
		}
		return nil
	}
	if o.Copy {
		return errors.New("--uidmap with --copy: a copied rootfs is a plain directory, not idmapped layers (it would need a chown of every file)")
	}
	if len(sp.GIDMappings) == 0 {
		sp.GIDMappings = sp.UIDMappings
	}
	if err := checkIDMaps("uidmap", sp.UIDMappings); err != nil {
		return err
	}
	return checkIDMaps("gidmap", sp.GIDMappings)
}

// claimDir creates the bundle directory, or takes an empty existing one, and
// returns how to undo everything Create puts in it.
func claimDir(dir string) (func(), error) {
	created := false
	if err := os.Mkdir(dir, 0o711); err == nil {
		created = true
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	} else if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
		return nil, fmt.Errorf("bundle %s already exists and is not an empty directory", dir)
	}
	return func() {
		unmount(filepath.Join(dir, rootfsDir))
		for _, name := range []string{rootfsDir, upperDir, workDir, emptyDir, "config.json", RecordFile} {
			os.RemoveAll(filepath.Join(dir, name))
		}
		if created {
			os.Remove(dir)
		}
	}, nil
}

// holdLayers returns holding the store's shared lock with every layer of img
// in the store (none for a --copy bundle). The missing ones are unpacked and
// pinned without the lock; then the lock is taken and the layers checked
// again, since gc may have removed an unpinned one in between. The pins
// grow each round, so this ends within a round per layer.
func holdLayers(store *image.Store, img *image.Image, copyMode bool, debugf func(string, ...any)) (func(), error) {
	var pins []*image.LayerPin
	release := func() {
		for _, p := range pins {
			p.Release()
		}
	}
	for round := 0; round <= len(img.Layers)+1; round++ {
		unlock, err := store.LockShared()
		if err != nil {
			release()
			return nil, err
		}
		var missing []int
		for i, l := range img.Layers {
			if !copyMode && !store.HasLayer(l.DiffID) {
				missing = append(missing, i)
			}
		}
		if len(missing) == 0 {
			return func() { unlock(); release() }, nil
		}
		unlock()
		for _, i := range missing {
			start := time.Now()
			l := img.Layers[i]
			pin, err := store.EnsureLayer(l, func() (io.ReadCloser, error) { return img.OpenLayer(i) })
			if err != nil {
				release()
				return nil, err
			}
			pins = append(pins, pin)
			if pin.Unpacked {
				debugf("unpacked layer %s (%s) in %v", l.DiffID, l.Blob.Digest, time.Since(start))
			}
		}
	}
	release()
	return nil, fmt.Errorf("store %s: the image's layers kept disappearing while they were unpacked (is gc removing layers by hand?)", store.Root())
}

// mountRecord composes the record's layers on BUNDLE/rootfs; it creates
// upper and work on first use and reuses them on a remount (where upper's
// root is the container's own by then).
func mountRecord(dir string, rec *Record) error {
	store, err := image.OpenStore(rec.Store)
	if err != nil {
		return err
	}
	lowers, err := recordLowers(dir, store, rec)
	if err != nil {
		return err
	}
	upper, work := filepath.Join(dir, upperDir), filepath.Join(dir, workDir)
	switch err := os.Mkdir(upper, 0o755); {
	case err == nil:
		if err := setRootMetadata(upper, store, rec); err != nil {
			return err
		}
	case !errors.Is(err, os.ErrExist):
		return err
	}
	switch err := os.Mkdir(work, 0o755); {
	case err == nil && len(rec.UIDMappings) > 0:
		if err := chownMapped(work, 0, 0, rec); err != nil {
			return err
		}
	case err != nil && !errors.Is(err, os.ErrExist):
		return err
	}
	switch {
	case rec.Rootless:
		// Here for the image's /etc/passwd, in this command's mount
		// namespace; the container's init mounts it for itself.
		err = overlay.Mount(filepath.Join(dir, rootfsDir), lowers, upper, work, overlay.Options{UserXattr: true})
	case len(rec.UIDMappings) > 0:
		err = mountOverlayIDMapped(filepath.Join(dir, rootfsDir), lowers, upper, work, rec.UIDMappings, rec.GIDMappings)
	default:
		err = overlay.Mount(filepath.Join(dir, rootfsDir), lowers, upper, work, overlay.Options{})
	}
	if err != nil {
		// Checked only on failure: a stat per layer would cost every mount.
		for _, d := range rec.Layers {
			if !store.HasLayer(d) {
				return fmt.Errorf("bundle %s: layer %s is missing from the store %s (was it removed by hand?)", dir, d, store.Root())
			}
		}
	}
	return err
}

// recordLowers are the overlay's lower directories, top first: the
// record's layers in the store, or for an image without layers an empty
// directory in the bundle.
func recordLowers(dir string, store *image.Store, rec *Record) ([]string, error) {
	lowers := make([]string, 0, len(rec.Layers))
	for _, d := range slices.Backward(rec.Layers) {
		lowers = append(lowers, store.LayerDir(d))
	}
	if len(lowers) == 0 {
		empty := filepath.Join(dir, emptyDir)
		if err := os.Mkdir(empty, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		lowers = append(lowers, empty)
	}
	return lowers, nil
}

// setRootMetadata gives a new upper directory, which is what overlayfs
// shows as the bundle's "/", the owner, mode and times of the image's root:
// those of the topmost layer whose tar had a "./" entry. Without one, "/" is
// 0755 root:root with the bundle's time, as in a flattened unpack. In a
// bundle with a user namespace the owner is the host id the container's
// one maps to, as the idmapped layers show theirs.
func setRootMetadata(upper string, store *image.Store, rec *Record) error {
	for _, d := range slices.Backward(rec.Layers) {
		if !store.HasRootEntry(d) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(store.LayerDir(d), &st); err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
		// chown first: it clears setuid and setgid bits.
		if err := chownMapped(upper, st.Uid, st.Gid, rec); err != nil {
			return fmt.Errorf("bundle root from layer %s: %w", d, err)
		}
		if err := unix.Chmod(upper, st.Mode&0o7777); err != nil {
			return fmt.Errorf("bundle root from layer %s: %w", d, err)
		}
		if err := unix.UtimesNano(upper, []unix.Timespec{st.Atim, st.Mtim}); err != nil {
			return fmt.Errorf("bundle root from layer %s: %w", d, err)
		}
		return nil
	}
	if len(rec.UIDMappings) > 0 {
		return chownMapped(upper, 0, 0, rec)
	}
	return nil
}

// chownMapped gives path the container ids uid and gid, as the host sees
// them through the record's maps (unchanged without a user namespace). An
// id the maps leave out is the overflow id, as the kernel shows it.
func chownMapped(path string, uid, gid uint32, rec *Record) error {
	if len(rec.UIDMappings) > 0 {
		var ok bool
		if uid, ok = hostID(rec.UIDMappings, uid); !ok {
			uid = overflowID
		}
		if gid, ok = hostID(rec.GIDMappings, gid); !ok {
			gid = overflowID
		}
	}
	if err := unix.Chown(path, int(uid), int(gid)); err != nil {
		return fmt.Errorf("chown %s to %d:%d: %w", path, uid, gid, err)
	}
	return nil
}

// overflowID is the kernel's default overflowuid/overflowgid (nobody).
const overflowID = 65534

// flatten applies every layer, bottom first, straight from its blob into a
// plain rootfs directory.
func flatten(rootfs string, img *image.Image) error {
	for i, l := range img.Layers {
		rc, err := img.OpenLayer(i)
		if err != nil {
			return err
		}
		err = image.UnpackLayer(rootfs, rc, l, image.ApplyOptions{Whiteouts: image.ApplyWhiteouts})
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

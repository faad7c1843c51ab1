package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/moby/sys/mountinfo"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// Remove unmounts a bundle, deletes what Create made in it and releases its
// layers (gc may then remove them). The directory goes too if nothing else is
// in it. A bundle a container still runs from is refused, changing nothing:
// its files are that container's root filesystem.
func Remove(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	rec, err := ReadRecord(dir)
	if err != nil {
		return err
	}
	pids, err := processesIn(filepath.Join(dir, rootfsDir))
	if err != nil {
		return fmt.Errorf("bundle rm %s: %w", dir, err)
	}
	if len(pids) > 0 {
		return inUseError(dir, pids)
	}
	if err := unmount(filepath.Join(dir, rootfsDir)); err != nil {
		return fmt.Errorf("bundle rm %s: %w", dir, err)
	}
	for _, name := range []string{rootfsDir, upperDir, workDir, emptyDir, "config.json", RecordFile} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("bundle rm %s: %w", dir, err)
		}
	}
	os.Remove(dir) // only if empty: the bundle dir may hold the user's files
	store, err := image.OpenExistingStore(rec.Store)
	if errors.Is(err, image.ErrNoStore) {
		return nil // removed by hand: nothing there records the bundle
	}
	if err != nil {
		return err
	}
	return store.RemoveBundle(dir)
}

// Mount re-mounts a bundle's overlay, as needed after a reboot. A mounted
// bundle is left as it is.
func Mount(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	rec, err := ReadRecord(dir)
	if err != nil {
		return err
	}
	if rec.Copy {
		return fmt.Errorf("bundle %s was created with --copy: its rootfs is a plain directory, nothing to mount", dir)
	}
	if rec.Rootless {
		return fmt.Errorf("bundle %s is a normal user's: strata mounts its rootfs in the container's namespaces at create, nothing to mount here", dir)
	}
	if mounted, err := mountinfo.Mounted(filepath.Join(dir, rootfsDir)); err != nil || mounted {
		return err
	}
	return mountRecord(dir, rec)
}

// Entry is one bundle known to a store.
type Entry struct {
	Dir     string
	Record  *Record // nil when the bundle is gone or unreadable
	Mounted bool
	Err     error
}

// List reports the bundles recorded in the store at root, sorted by
// directory. A store that does not exist has none (image.ErrNoStore).
func List(root string) ([]Entry, error) {
	store, err := image.OpenExistingStore(root)
	if err != nil {
		return nil, err
	}
	return list(store)
}

func list(store *image.Store) ([]Entry, error) {
	dirs, err := store.Bundles()
	if err != nil {
		return nil, err
	}
	slices.Sort(dirs)
	out := make([]Entry, 0, len(dirs))
	for _, d := range dirs {
		e := Entry{Dir: d}
		e.Record, e.Err = ReadRecord(d)
		if e.Record != nil && e.Record.Store != store.Root() {
			e.Record, e.Err = nil, fmt.Errorf("bundle belongs to store %s", e.Record.Store)
		}
		if e.Record != nil && !e.Record.Copy {
			e.Mounted, _ = mountinfo.Mounted(filepath.Join(d, rootfsDir))
		}
		out = append(out, e)
	}
	return out, nil
}

// LayerUse is one layer of a store and the bundles whose records use it.
type LayerUse struct {
	DiffID  ocispec.Digest
	Bundles []string // sorted; none means gc will remove the layer
}

// ListLayers lists the layers of the store at root, sorted by diff ID, each
// with the bundles of entries (from List) that use it.
func ListLayers(root string, entries []Entry) ([]LayerUse, error) {
	store, err := image.OpenExistingStore(root)
	if err != nil {
		return nil, err
	}
	layers, err := store.Layers()
	if err != nil {
		return nil, err
	}
	users := map[ocispec.Digest][]string{}
	for _, e := range entries {
		if e.Record == nil {
			continue
		}
		for _, d := range e.Record.Layers {
			// A layer twice in one image is one use.
			if u := users[d]; len(u) == 0 || u[len(u)-1] != e.Dir {
				users[d] = append(u, e.Dir)
			}
		}
	}
	out := make([]LayerUse, 0, len(layers))
	for _, d := range layers {
		out = append(out, LayerUse{DiffID: d, Bundles: users[d]})
	}
	return out, nil
}

// GC removes the layers and metadata blobs no bundle uses, and forgets
// bundles that no longer exist. It holds the store exclusively, which keeps
// creates from recording their layers meanwhile, and leaves alone the layers
// creates have pinned (unpacked, not yet recorded) and the unpacks in
// progress: it never waits for them. A store that does not exist has nothing
// to collect (image.ErrNoStore).
func GC(root string) (removed []ocispec.Digest, err error) {
	store, err := image.OpenExistingStore(root)
	if err != nil {
		return nil, err
	}
	unlock, err := store.LockExclusive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	entries, err := list(store)
	if err != nil {
		return nil, err
	}
	used := map[ocispec.Digest]bool{}
	for _, e := range entries {
		if e.Record == nil {
			// Deleted without bundle rm, or not ours: it holds no layers.
			if err := store.RemoveBundle(e.Dir); err != nil {
				return nil, err
			}
			continue
		}
		for _, d := range e.Record.Layers {
			used[d] = true
		}
		used[e.Record.Manifest], used[e.Record.Config] = true, true
	}
	// Unpacks run beside gc, each holding its layer's lock: what is in
	// tmp/ without one is debris.
	if err := store.ClearTemp(); err != nil {
		return nil, err
	}
	blobs, err := store.Blobs()
	if err != nil {
		return nil, err
	}
	for _, d := range blobs {
		if !used[d] {
			if err := store.RemoveBlob(d); err != nil {
				return nil, err
			}
		}
	}
	layers, err := store.Layers()
	if err != nil {
		return nil, err
	}
	for _, d := range layers {
		if used[d] {
			continue
		}
		// A layer a create has pinned, unpacked but not yet recorded, stays.
		gone, err := store.CollectLayer(d)
		if err != nil {
			return removed, err
		}
		if gone {
			removed = append(removed, d)
		}
	}
	// The lock files of layers no one holds are needed again only by the
	// next unpack or pin, which makes a new one.
	if err := store.ClearLayerLocks(); err != nil {
		return removed, err
	}
	return removed, nil
}

package build

import (
	"os"
	"slices"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// journal remembers what a build added, so that a failed build leaves the
// store and the cache as it found them: the cache tags and blobs it wrote,
// and the layers and metadata blobs its bundles unpacked into the store.
type journal struct {
	store        *image.Store
	layersBefore map[ocispec.Digest]bool
	blobsBefore  map[ocispec.Digest]bool
	tags         []string
	blobs        []ocispec.Digest
	// newCache: the cache layout did not exist before; undo removes it.
	newCache bool
}

func startJournal(store *image.Store) (*journal, error) {
	j := &journal{store: store, layersBefore: map[ocispec.Digest]bool{}, blobsBefore: map[ocispec.Digest]bool{}}
	layers, err := store.Layers()
	if err != nil {
		return nil, err
	}
	for _, d := range layers {
		j.layersBefore[d] = true
	}
	blobs, err := store.Blobs()
	if err != nil {
		return nil, err
	}
	for _, d := range blobs {
		j.blobsBefore[d] = true
	}
	return j, nil
}

// undo removes what the build added. Layers and blobs a bundle uses stay,
// whoever made them: a concurrent create may have recorded them meanwhile.
func (j *journal) undo(cacheDir string) error {
	if j.newCache {
		if err := os.RemoveAll(cacheDir); err != nil {
			return err
		}
	} else if len(j.tags) > 0 || len(j.blobs) > 0 {
		w, err := image.OpenLayoutWriter(cacheDir)
		if err != nil {
			return err
		}
		defer w.Close()
		for _, t := range slices.Backward(j.tags) {
			if err := w.Untag(t); err != nil {
				return err
			}
		}
		for _, d := range j.blobs {
			if err := w.RemoveBlob(d); err != nil {
				return err
			}
		}
	}
	// As gc: the store held exclusively, so no create records a layer
	// while this decides it is unused.
	unlock, err := j.store.LockExclusive()
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := bundle.List(j.store.Root())
	if err != nil {
		return err
	}
	used := map[ocispec.Digest]bool{}
	for _, e := range entries {
		if e.Record != nil {
			for _, d := range e.Record.Layers {
				used[d] = true
			}
			used[e.Record.Manifest], used[e.Record.Config] = true, true
		}
	}
	layers, err := j.store.Layers()
	if err != nil {
		return err
	}
	for _, d := range layers {
		if !j.layersBefore[d] && !used[d] {
			// CollectLayer removes the layer's lock file too.
			if _, err := j.store.CollectLayer(d); err != nil {
				return err
			}
		}
	}
	blobs, err := j.store.Blobs()
	if err != nil {
		return err
	}
	for _, d := range blobs {
		if !j.blobsBefore[d] && !used[d] {
			if err := j.store.RemoveBlob(d); err != nil {
				return err
			}
		}
	}
	return nil
}

package bundle

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// PullOptions describe an image to fetch into the layer store.
type PullOptions struct {
	Image    image.Ref
	Platform string // os/arch[/variant]; empty for the host's
	Store    string // default image.DefaultStore
	Progress *Progress
}

// PullResult says what a pull did.
type PullResult struct {
	Manifest ocispec.Digest
	// Fetched and Present count the image's distinct layers: fetched by this
	// pull, or found in the store.
	Fetched, Present int
}

// Pull makes an image's layers present in the store without making a
// bundle, and keeps its manifest and config there (gc removes all three
// while no bundle uses them). The image is resolved before the store is
// touched, so a bad reference, registry or credential changes nothing.
func Pull(o PullOptions) (*PullResult, error) {
	img, err := image.Open(o.Image, o.Platform)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	if o.Store == "" {
		o.Store = image.DefaultStore
	}
	store, err := image.OpenStore(o.Store)
	if err != nil {
		return nil, err
	}
	fetched, release, err := fetchLayers(store, img, o.Progress)
	if err != nil {
		return nil, err
	}
	defer release()
	for _, blob := range [][]byte{img.RawManifest, img.RawConfig} {
		if _, err := store.PutBlob(blob); err != nil {
			return nil, err
		}
	}
	return &PullResult{Manifest: img.ManifestDigest, Fetched: fetched, Present: len(distinctLayers(img)) - fetched}, nil
}

// fetchLayers unpacks into the store, in parallel, the layers of img it
// lacks, each streamed from the image straight into the store's unpack
// (verified, then renamed into place: a killed pull leaves only whole
// layers, and the next one fetches the rest). The layers stay pinned until
// release. If any layer fails, the ones this call unpacked are removed
// again, so a refused image leaves nothing in the store.
func fetchLayers(store *image.Store, img *image.Image, progress *Progress) (fetched int, release func(), err error) {
	layers := distinctLayers(img)
	pins := make([]*image.LayerPin, len(layers))
	errs := make([]error, len(layers))
	sem := make(chan struct{}, image.RegistryJobs)
	// After one layer fails the image is refused whatever the others
	// hold: those not started yet are not fetched only to be rolled back.
	var failed atomic.Bool
	var wg sync.WaitGroup
	progress.start()
	for k, i := range layers {
		l := img.Layers[i]
		progress.entry(l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if failed.Load() {
				progress.finish(l, false, errNotFetched)
				return
			}
			pins[k], errs[k] = store.EnsureLayer(l, func() (io.ReadCloser, error) {
				rc, err := img.OpenLayer(i)
				if err != nil {
					return nil, err
				}
				return progress.track(l, rc), nil
			})
			if errs[k] != nil {
				failed.Store(true)
			}
			progress.finish(l, pins[k] != nil && pins[k].Unpacked, errs[k])
		}()
	}
	wg.Wait()
	progress.stop()
	release = func() {
		for _, p := range pins {
			p.Release()
		}
	}
	if err := errors.Join(errs...); err != nil {
		rollback(store, img, layers, pins)
		return 0, nil, err
	}
	for _, p := range pins {
		if p.Unpacked {
			fetched++
		}
	}
	return fetched, release, nil
}

// errNotFetched marks, on the progress display, a layer left alone
// because another layer of the image failed.
var errNotFetched = errors.New("not fetched: another layer failed")

// rollback removes the layers this pull unpacked (other users' pins keep
// theirs: CollectLayer skips a layer anyone holds) and releases the rest.
func rollback(store *image.Store, img *image.Image, layers []int, pins []*image.LayerPin) {
	for k, p := range pins {
		if p == nil {
			continue
		}
		p.Release()
		if p.Unpacked {
			store.CollectLayer(img.Layers[layers[k]].DiffID) //nolint:errcheck // best effort; gc removes what stays
		}
	}
}

// distinctLayers lists the indexes of img's layers, once per diff ID: an
// image may hold one layer twice, and one fetch makes both present.
func distinctLayers(img *image.Image) []int {
	seen := map[ocispec.Digest]bool{}
	var out []int
	for i, l := range img.Layers {
		if !seen[l.DiffID] {
			seen[l.DiffID] = true
			out = append(out, i)
		}
	}
	return out
}

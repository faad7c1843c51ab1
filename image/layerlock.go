package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/ocispec"
)

// Each layer has a lock file, locks/layer-HEX.lock, which is what lets a
// layer unpack without the store lock (a cold unpack of a big image takes
// minutes, and gc waited behind every one):
//
//   - an unpack holds it exclusively, so one process unpacks a layer while
//     the others wait, and gc leaves tmp/HEX.* alone while it is held;
//   - a create holds it shared from the moment it has the layer until the
//     bundle's record names it (LayerPin), so gc does not remove a layer
//     that is unpacked but not yet recorded;
//   - gc takes it exclusively without waiting: held means in use, skipped.
//
// gc removes lock files it could take. Whoever had opened the file before
// and then got the lock on the unlinked inode sees no links left and opens
// the new one (lockFile), so one path never stands for two locks.

// layerLockPrefix starts the name of a layer's lock file in locks/.
const layerLockPrefix = "layer-"

func (s *Store) layerLockPath(hex string) string {
	return filepath.Join(s.root, "locks", layerLockPrefix+hex+".lock")
}

// lockFile opens (creating) the lock file at p and flocks it with how
// (LOCK_SH or LOCK_EX, with LOCK_NB: ok false when it is held). It retries
// when the file was unlinked while it waited.
func lockFile(p string, how int) (f *os.File, ok bool, err error) {
	for {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("store: lock %s: %w", p, err)
		}
		err = flock(f, how)
		if how&unix.LOCK_NB != 0 && errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, false, nil
		}
		if err != nil {
			f.Close()
			return nil, false, fmt.Errorf("store: lock %s: %w", p, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("store: lock %s: %w", p, err)
		}
		if st.Nlink > 0 {
			return f, true, nil
		}
		f.Close() // gc removed the file while we waited: lock the new one
	}
}

func flock(f *os.File, how int) error {
	for {
		if err := unix.Flock(int(f.Fd()), how); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// LayerPin is a shared hold on a layer: gc does not remove it until Release.
type LayerPin struct {
	f *os.File
	// Unpacked says whether EnsureLayer unpacked the layer for this pin.
	Unpacked bool
}

// Release lets gc remove the layer again (once no record names it).
func (p *LayerPin) Release() {
	if p != nil && p.f != nil {
		p.f.Close()
		p.f = nil
	}
}

// tryLayerLock takes layer hex's lock exclusively if no one holds it, for gc.
// The returned function removes the lock file, then releases it.
func (s *Store) tryLayerLock(hex string) (func(), bool, error) {
	p := s.layerLockPath(hex)
	f, ok, err := lockFile(p, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil || !ok {
		return nil, false, err
	}
	return func() {
		os.Remove(p)
		f.Close()
	}, true, nil
}

// CollectLayer removes an unpacked layer unless a create holds it (a pin, or
// its unpack): gc's removal. It reports whether the layer went.
func (s *Store) CollectLayer(d ocispec.Digest) (bool, error) {
	release, ok, err := s.tryLayerLock(d.Encoded())
	if err != nil || !ok {
		return false, err
	}
	defer release()
	return true, s.RemoveLayer(d)
}

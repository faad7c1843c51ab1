package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/ocispec"
)

// DefaultStore is where layers live unless --store says otherwise.
const DefaultStore = "/var/lib/strata"

// Store is the content-addressed layer store:
//
//	blobs/ALG/HEX     manifests and configs of the images bundles were made from
//	layers/ALG/HEX/   unpacked layers by diff ID, read-only lower dirs for overlay
//	tmp/              layers being unpacked or removed; never trusted
//	locks/            flock files: one per layer, and store.lock (gc vs. users)
//	bundles/KEY       symlinks to the bundles that use this store
//
// A layer directory appears only by rename from tmp/ once fully unpacked and
// verified, so a crash never leaves one that looks complete.
type Store struct{ root string }

// OpenStore opens (creating if needed) the store at root.
func OpenStore(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	s := &Store{root: abs}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp", "locks", "bundles"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
	}
	return s, nil
}

// ErrNoStore says that a store directory does not exist.
var ErrNoStore = errors.New("store does not exist")

// OpenExistingStore opens the store at root without creating it, for the
// commands that only read or shrink a store (ls, gc, rm): asking about a
// store that is not there must not make one.
func OpenExistingStore(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	if _, err := os.Stat(filepath.Join(abs, "layers")); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", abs, ErrNoStore)
	} else if err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	return OpenStore(abs)
}

// Root is the store's absolute path.
func (s *Store) Root() string { return s.root }

// LayerDir is where the layer with diff ID d is (or would be) unpacked.
func (s *Store) LayerDir(d ocispec.Digest) string {
	return filepath.Join(s.root, "layers", d.Algorithm().String(), d.Encoded())
}

// HasLayer reports whether the layer is unpacked.
func (s *Store) HasLayer(d ocispec.Digest) bool {
	st, err := os.Lstat(s.LayerDir(d))
	return err == nil && st.IsDir()
}

// EnsureLayer makes layer l present, unpacking the blob from open unless it
// already is, and pins it: gc leaves it until the pin is released, which the
// caller does once a bundle's record names the layer. No store lock is
// needed (or should be held: gc would wait behind the unpack). Concurrent
// callers for one layer, in this process or others, unpack it once: the
// first holds the layer's lock exclusively, the others wait for it and find
// the layer done. The pin's Unpacked says whether this call unpacked it.
func (s *Store) EnsureLayer(l Layer, open func() (io.ReadCloser, error)) (*LayerPin, error) {
	if err := l.DiffID.Validate(); err != nil {
		return nil, fmt.Errorf("layer diff_id %q: %w", l.DiffID, err)
	}
	p := s.layerLockPath(l.DiffID.Encoded())
	for {
		// Shared first: it waits only while someone unpacks the layer.
		f, _, err := lockFile(p, unix.LOCK_SH)
		if err != nil {
			return nil, err
		}
		if s.HasLayer(l.DiffID) {
			return &LayerPin{f: f}, nil
		}
		f.Close()
		if f, _, err = lockFile(p, unix.LOCK_EX); err != nil {
			return nil, err
		}
		unpacked := false
		if !s.HasLayer(l.DiffID) {
			if err := s.unpackAndPublish(l, open); err != nil {
				f.Close()
				return nil, err
			}
			unpacked = true
		}
		// Exclusive to shared is not atomic in flock(2): in between, gc may
		// take the lock and remove the layer, which is then unpacked again.
		if err := flock(f, unix.LOCK_SH); err != nil {
			f.Close()
			return nil, fmt.Errorf("store: lock %s: %w", p, err)
		}
		if s.HasLayer(l.DiffID) {
			return &LayerPin{f: f, Unpacked: unpacked}, nil
		}
		f.Close()
	}
}

// unpackAndPublish unpacks the layer into tmp/, flushes it to disk and
// renames it into layers/. The caller holds the layer's lock exclusively.
func (s *Store) unpackAndPublish(l Layer, open func() (io.ReadCloser, error)) error {
	// Only the lock holder writes tmp/HEX.*, so any found now were left by a
	// process that died mid-unpack.
	if err := s.removeTemps(l.DiffID.Encoded() + "."); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), l.DiffID.Encoded()+".")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := s.unpackInto(tmp, l, open); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := syncTree(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("store: layer %s: %w", l.DiffID, err)
	}
	if err := os.Rename(tmp, s.LayerDir(l.DiffID)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("store: publishing layer %s: %w", l.DiffID, err)
	}
	if err := syncDir(filepath.Dir(s.LayerDir(l.DiffID))); err != nil {
		return fmt.Errorf("store: publishing layer %s: %w", l.DiffID, err)
	}
	return nil
}

func (s *Store) unpackInto(dir string, l Layer, open func() (io.ReadCloser, error)) error {
	// The layer's root entry, if any, sets the final mode; lower dirs must be
	// searchable by the container's users.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return UnpackLayer(dir, rc, l, ApplyOptions{Whiteouts: OverlayWhiteouts})
}

func (s *Store) removeTemps(prefix string) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := s.removeTemp(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) removeTemp(name string) error {
	if err := os.RemoveAll(filepath.Join(s.root, "tmp", name)); err != nil {
		return fmt.Errorf("store: removing the stale %s: %w", name, err)
	}
	return nil
}

// ClearTemp removes what is in tmp/ but the unpacks in progress (their
// layer's lock is held). Only call it holding LockExclusive, which keeps out
// the other writers of tmp/ (blobs, removals).
func (s *Store) ClearTemp() error {
	entries, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, e := range entries {
		// An unpack's directory is HEX.RANDOM; HEX names its lock.
		if hex, _, ok := strings.Cut(e.Name(), "."); ok && ocispec.FromEncoded(ocispec.SHA256, hex).Validate() == nil {
			release, free, err := s.tryLayerLock(hex)
			if err != nil {
				return err
			}
			if !free {
				continue
			}
			err = s.removeTemp(e.Name())
			release()
			if err != nil {
				return err
			}
			continue
		}
		if err := s.removeTemp(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// Layers lists the diff IDs of the unpacked layers.
func (s *Store) Layers() ([]ocispec.Digest, error) { return s.list("layers") }

// Blobs lists the digests of the stored metadata blobs.
func (s *Store) Blobs() ([]ocispec.Digest, error) { return s.list("blobs") }

// RemoveBlob deletes a stored metadata blob.
func (s *Store) RemoveBlob(d ocispec.Digest) error {
	if err := os.Remove(s.blobPath(d)); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (s *Store) list(kind string) ([]ocispec.Digest, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, kind, "sha256"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var out []ocispec.Digest
	for _, e := range entries {
		d := ocispec.FromEncoded(ocispec.SHA256, e.Name())
		if d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// RemoveLayer deletes an unpacked layer. It is first renamed into tmp/ so
// that an interrupted removal leaves no partial layer under layers/.
func (s *Store) RemoveLayer(d ocispec.Digest) error {
	tmp := filepath.Join(s.root, "tmp", "rm."+d.Encoded())
	if err := os.Rename(s.LayerDir(d), tmp); err != nil {
		return fmt.Errorf("store: removing layer %s: %w", d, err)
	}
	return os.RemoveAll(tmp)
}

// ClearLayerLocks removes the lock files of the layers no one holds: they
// are needed again only by the next unpack or pin, which makes a new one.
// gc calls it holding LockExclusive.
func (s *Store) ClearLayerLocks() error {
	entries, err := os.ReadDir(filepath.Join(s.root, "locks"))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, e := range entries {
		hex, ok := strings.CutPrefix(e.Name(), layerLockPrefix)
		if !ok {
			continue
		}
		release, free, err := s.tryLayerLock(strings.TrimSuffix(hex, ".lock"))
		if err != nil {
			return err
		}
		if free {
			release()
		}
	}
	return nil
}

// LockShared holds the store against gc while a bundle records the layers
// and blobs it uses (not while they unpack: EnsureLayer pins those);
// LockExclusive is gc's. Each returns the unlock function.
func (s *Store) LockShared() (func(), error)    { return s.lock("store", unix.LOCK_SH) }
func (s *Store) LockExclusive() (func(), error) { return s.lock("store", unix.LOCK_EX) }

func (s *Store) lock(name string, how int) (func(), error) {
	f, _, err := lockFile(filepath.Join(s.root, "locks", name+".lock"), how)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// PutBlob stores a metadata blob (manifest or config) and returns its digest.
func (s *Store) PutBlob(data []byte) (ocispec.Digest, error) {
	d := ocispec.FromBytes(data)
	p := s.blobPath(d)
	if _, err := os.Stat(p); err == nil {
		return d, nil
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "blob.")
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = syncFile(tmp)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("store: writing blob %s: %w", d, err)
	}
	return d, nil
}

// ReadBlob reads a stored blob, verifying its digest.
func (s *Store) ReadBlob(d ocispec.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("store: blob digest %q: %w", d, err)
	}
	data, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("store: blob %s: %w", d, err)
	}
	if err := VerifyBytes(data, ocispec.Descriptor{Digest: d, Size: int64(len(data))}); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return data, nil
}

func (s *Store) blobPath(d ocispec.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

// AddBundle records that the bundle at dir (absolute) uses this store.
func (s *Store) AddBundle(dir string) error {
	link := s.bundleLink(dir)
	os.Remove(link)
	if err := os.Symlink(dir, link); err != nil {
		return fmt.Errorf("store: recording bundle %s: %w", dir, err)
	}
	return nil
}

// RemoveBundle forgets the bundle at dir.
func (s *Store) RemoveBundle(dir string) error {
	if err := os.Remove(s.bundleLink(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: forgetting bundle %s: %w", dir, err)
	}
	return nil
}

// Bundles lists the bundle directories recorded in the store.
func (s *Store) Bundles() ([]string, error) {
	dir := filepath.Join(s.root, "bundles")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var out []string
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, target)
		}
	}
	return out, nil
}

func (s *Store) bundleLink(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(s.root, "bundles", hex.EncodeToString(sum[:16]))
}

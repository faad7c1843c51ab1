package image

import (
	"fmt"
	"hash"
	"io"

	"github.com/strata-runtime/strata/image/ocispec"
)

// UnpackLayer applies a layer blob to dir while checking both of its
// digests: the blob's (compressed) digest and size from the manifest, and
// the diff ID (uncompressed) from the config. Decompression and hashing run
// ahead of the file writes on a second goroutine. On error dir holds a
// partial layer: the caller unpacks into a temporary directory and removes it.
func UnpackLayer(dir string, blob io.Reader, l Layer, opts ApplyOptions) error {
	comp, err := Decompression(l.Blob.MediaType)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.Blob.Digest, err)
	}
	blobHash, err := newHash(l.Blob.Digest)
	if err != nil {
		return fmt.Errorf("layer blob: %w", err)
	}
	diffHash, err := newHash(l.DiffID)
	if err != nil {
		return fmt.Errorf("layer %s diff_id: %w", l.Blob.Digest, err)
	}
	counted := &countingReader{r: io.TeeReader(blob, blobHash)}
	dec, err := decompress(counted, comp)
	if err != nil {
		if bad := blobMismatch(counted, blobHash, l); bad != nil {
			return bad
		}
		return fmt.Errorf("layer %s: %w", l.Blob.Digest, err)
	}
	ra := newReadahead(io.TeeReader(dec, diffHash))
	err = ApplyTar(dir, ra, opts)
	if err == nil {
		// Whatever follows the end-of-archive blocks is part of the diff ID.
		_, err = io.Copy(io.Discard, ra)
	}
	ra.Close()
	dec.Close()
	if err != nil {
		if bad := blobMismatch(counted, blobHash, l); bad != nil {
			return bad
		}
		return fmt.Errorf("layer %s: %w", l.Blob.Digest, err)
	}
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return fmt.Errorf("layer %s: reading the blob: %w", l.Blob.Digest, err)
	}
	if l.Blob.Size > 0 && counted.n != l.Blob.Size {
		return fmt.Errorf("layer blob %s: size is %d bytes, manifest says %d (truncated or corrupt)", l.Blob.Digest, counted.n, l.Blob.Size)
	}
	if got := ocispec.FromHash(l.Blob.Digest.Algorithm(), blobHash); got != l.Blob.Digest {
		return fmt.Errorf("layer blob %s: content digest is %s (corrupt or tampered blob)", l.Blob.Digest, got)
	}
	if got := ocispec.FromHash(l.DiffID.Algorithm(), diffHash); got != l.DiffID {
		return fmt.Errorf("layer %s: uncompressed digest is %s but the config's diff_id is %s", l.Blob.Digest, got, l.DiffID)
	}
	return nil
}

// blobMismatch tells a blob that is not the one the manifest names from a
// layer that is: when decompression or the tar fails, a corrupt blob (a
// registry's or a layout's bad copy) is the likelier cause, and its digest
// says more than "gzip: invalid header". It reads the rest of the blob, up
// to the manifest's size, and returns nil when the digest matches or the
// blob is shorter than that.
func blobMismatch(counted *countingReader, blobHash hash.Hash, l Layer) error {
	if l.Blob.Size <= 0 || counted.n > l.Blob.Size {
		return nil
	}
	// A short blob keeps the error it caused (unexpected EOF says truncated).
	if _, err := io.Copy(io.Discard, io.LimitReader(counted, l.Blob.Size-counted.n)); err != nil || counted.n != l.Blob.Size {
		return nil
	}
	if got := ocispec.FromHash(l.Blob.Digest.Algorithm(), blobHash); got != l.Blob.Digest {
		return fmt.Errorf("layer blob %s: content digest is %s (corrupt or tampered blob)", l.Blob.Digest, got)
	}
	return nil
}

func newHash(d ocispec.Digest) (hash.Hash, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", d, err)
	}
	return d.Algorithm().Hash(), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

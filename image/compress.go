package image

import (
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/strata-runtime/strata/image/ocispec"
)

// Compression of a layer blob.
type Compression string

const (
	Uncompressed Compression = "none"
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
)

// Decompression maps a layer media type to its compression; an unknown media
// type is an error, never a guess.
func Decompression(mediaType string) (Compression, error) {
	switch mediaType {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerNonDistributable, //nolint:staticcheck // still found in old images
		"application/vnd.docker.image.rootfs.diff.tar":
		return Uncompressed, nil
	case ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return Gzip, nil
	case ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayerNonDistributableZstd: //nolint:staticcheck
		return Zstd, nil
	}
	return "", fmt.Errorf("unknown layer media type %q", mediaType)
}

// LayerMediaType is the OCI media type of a layer with compression c.
func LayerMediaType(c Compression) string {
	switch c {
	case Gzip:
		return ocispec.MediaTypeImageLayerGzip
	case Zstd:
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}

// ParseCompression validates a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case Uncompressed, Gzip, Zstd:
		return c, nil
	}
	return "", fmt.Errorf("--compress %q: expected gzip, zstd or none", s)
}

// decompress wraps r in the decoder for c. The returned closer must be called
// to release decoder goroutines.
func decompress(r io.Reader, c Compression) (io.ReadCloser, error) {
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		// A layer is one gzip stream; concatenated members would be a second
		// tar after the first's end-of-archive, which nothing reads.
		zr.Multistream(false)
		return zr, nil
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, fmt.Errorf("zstd header: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// gzipBlock is how much of a layer pgzip compresses as one piece. Each block
// is deflated on its own goroutine with the previous block's tail as its
// dictionary and ends in a sync flush, so the output is one gzip stream
// that any reader takes, the same bytes for the same input whatever the
// number of cores, and about 1% larger than a single deflate.
const gzipBlock = 1 << 20

// compress wraps w in the encoder for c. gzip runs on every core: a layer
// of one stream compressed on one core made commit the slowest step of a
// build (1.7x podman's commit of the same change).
func compress(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case Gzip:
		zw, err := pgzip.NewWriterLevel(w, gzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		if err := zw.SetConcurrency(gzipBlock, runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
		return zw, nil
	case Zstd:
		return zstd.NewWriter(w)
	}
	return nopWriteCloser{w}, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

package build

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/klauspost/compress/zstd"

	"github.com/strata-runtime/strata/image"
)

// extract unpacks a local tar archive (plain, gzip or zstd) that ADD
// names into dest, reporting false for any other source (copied as it is).
// The entries are applied as a layer's are, beneath dest only, except that
// whiteout names are refused: the archive is not a layer.
func (c *copier) extract(s source, dest string) (bool, error) {
	st, err := os.Lstat(s.path())
	if err != nil || !st.Mode().IsRegular() {
		return false, err
	}
	f, err := os.Open(s.path())
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	r, ok, err := tarStream(br)
	if err != nil || !ok {
		return false, err
	}
	dir, err := securejoin.SecureJoin(c.rootfs, dest)
	if err != nil {
		return true, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return true, err
	}
	if err := image.ApplyTar(dir, r, image.ApplyOptions{Whiteouts: image.NoWhiteouts}); err != nil {
		return true, fmt.Errorf("archive %s: %w", s.rel, err)
	}
	return true, nil
}

// tarStream recognises a tar archive by its compression magic and the
// "ustar" mark of its first header, returning the uncompressed stream.
// bzip2 and xz archives are copied as they are: compress/bzip2's
// initialiser (a CRC table) would run at every strata start.
func tarStream(br *bufio.Reader) (io.Reader, bool, error) {
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, false, nil
		}
		r = zr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, false, nil
		}
		r = zr.IOReadCloser()
	}
	tr := bufio.NewReaderSize(r, 1024)
	head, err := tr.Peek(512)
	if err != nil || !bytes.Equal(head[257:262], []byte("ustar")) {
		return nil, false, nil
	}
	return tr, true, nil
}

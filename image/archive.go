package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// container is the read side of the thing an image lives in: a directory or a
// tar archive. Names are slash-separated and relative to its top.
type container interface {
	Open(name string) (io.ReadCloser, error)
	Close() error
}

// dirContainer reads a directory (an OCI image layout on disk).
type dirContainer struct{ root *os.Root }

func openDir(dir string) (*dirContainer, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &dirContainer{root: r}, nil
}

// Open resolves name inside the directory: os.Root refuses to leave it, even
// through symlinks planted in the layout.
func (d *dirContainer) Open(name string) (io.ReadCloser, error) { return d.root.Open(name) }
func (d *dirContainer) Close() error                            { return d.root.Close() }

// tarContainer reads members of an uncompressed tar archive in place: one scan
// of the headers records where each file's data starts, so opening a blob is a
// section read, not an extraction.
type tarContainer struct {
	file     *os.File
	files    map[string]section
	symlinks map[string]string
}

type section struct{ off, size int64 }

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

func openTar(file string) (*tarContainer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	c := &tarContainer{file: f, files: map[string]section{}, symlinks: map[string]string{}}
	if err := c.index(); err != nil {
		f.Close()
		return nil, fmt.Errorf("archive %s: %w", file, err)
	}
	return c, nil
}

func (c *tarContainer) index() error {
	magic := make([]byte, 4)
	if _, err := io.ReadFull(c.file, magic); err != nil {
		return fmt.Errorf("reading the start: %w", err)
	}
	if bytes.HasPrefix(magic, gzipMagic) || bytes.Equal(magic, zstdMagic) {
		return errors.New("archive is compressed; decompress it first (only plain tar archives are read in place)")
	}
	if _, err := c.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// tar.Reader reads headers straight from the file in whole blocks and
	// seeks over data, so the file offset after Next is the member's data.
	tr := tar.NewReader(c.file)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive's tar headers: %w", err)
		}
		name := archiveName(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			off, err := c.file.Seek(0, io.SeekCurrent)
			if err != nil {
				return err
			}
			c.files[name] = section{off: off, size: hdr.Size}
		case tar.TypeSymlink, tar.TypeLink:
			// docker save links repeated layers to their first copy.
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink && !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			c.symlinks[name] = archiveName(target)
		}
	}
}

func archiveName(n string) string { return strings.TrimPrefix(path.Clean("/"+n), "/") }

func (c *tarContainer) Open(name string) (io.ReadCloser, error) {
	name = archiveName(name)
	for hops := 0; hops < 8; hops++ {
		if s, ok := c.files[name]; ok {
			return sectionReadCloser{io.NewSectionReader(c.file, s.off, s.size)}, nil
		}
		target, ok := c.symlinks[name]
		if !ok {
			break
		}
		name = target
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (c *tarContainer) Close() error { return c.file.Close() }

// sectionReadCloser is an archive member; closing it leaves the archive open.
type sectionReadCloser struct{ *io.SectionReader }

func (sectionReadCloser) Close() error { return nil }

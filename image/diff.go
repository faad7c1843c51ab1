package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/ocispec"
)

// WriteDiff writes an overlay upper directory as an uncompressed OCI layer:
// whiteout devices become .wh.NAME entries and opaque directories a
// .wh..wh..opq entry. Entries come in lexical walk order with times in whole
// seconds and no user or group names, so the same changes give the same bytes.
// Paths in exclude (slash-separated, relative to upper) are left out.
func WriteDiff(upper string, w io.Writer, exclude map[string]bool) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == upper {
			return nil
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if exclude[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		return diffEntry(tw, p, rel, links)
	})
	if err != nil {
		return fmt.Errorf("diff of %s: %w", upper, err)
	}
	return tw.Close()
}

func diffEntry(tw *tar.Writer, p, rel string, links map[[2]uint64]string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			// A whiteout carries no metadata worth keeping; fixed values keep diffs stable.
			dir, base := path.Split(rel)
			return tw.WriteHeader(&tar.Header{Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
		}
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return tw.WriteHeader(hdr)
		}
		links[key] = rel
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	default:
		return nil // sockets have no tar form; a container's sockets are runtime state
	}
	xattrs, err := listXattrs(p)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	opaque := xattrs[overlayOpaqueXattr()] == "y"
	for k, v := range xattrs {
		if reservedXattr(k) {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattrPrefix+k] = v
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if hdr.Typeflag == tar.TypeReg {
		if err := copyFileTo(tw, p); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
	}
	if opaque {
		return tw.WriteHeader(&tar.Header{Name: rel + "/" + whiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
	}
	return nil
}

func copyFileTo(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// listXattrs reads all extended attributes of p, without following a symlink.
func listXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		vsize, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", name, err)
		}
		val := make([]byte, vsize)
		if vsize, err = unix.Lgetxattr(p, name, val); err != nil {
			return nil, fmt.Errorf("xattr %s: %w", name, err)
		}
		out[name] = string(val[:vsize])
	}
	return out, nil
}

// DiffBlob is a written layer: its blob descriptor and diff ID.
type DiffBlob struct {
	Descriptor ocispec.Descriptor
	DiffID     ocispec.Digest
}

// WriteDiffBlob writes the diff of upper (without exclude) to w compressed
// with c, computing the blob digest and the diff ID on the way.
func WriteDiffBlob(upper string, w io.Writer, c Compression, exclude map[string]bool) (DiffBlob, error) {
	blobHash := ocispec.SHA256.Hash()
	counter := &countingWriter{w: io.MultiWriter(w, blobHash)}
	zw, err := compress(counter, c)
	if err != nil {
		return DiffBlob{}, err
	}
	diffHash := ocispec.SHA256.Hash()
	if err := WriteDiff(upper, io.MultiWriter(zw, diffHash), exclude); err != nil {
		zw.Close()
		return DiffBlob{}, err
	}
	if err := zw.Close(); err != nil {
		return DiffBlob{}, fmt.Errorf("diff of %s: compressing: %w", upper, err)
	}
	return DiffBlob{
		Descriptor: ocispec.Descriptor{MediaType: LayerMediaType(c), Digest: ocispec.FromHash(ocispec.SHA256, blobHash), Size: counter.n},
		DiffID:     ocispec.FromHash(ocispec.SHA256, diffHash),
	}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

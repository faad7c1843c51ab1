package imagetest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// CompareTrees fails t unless the trees at want and got hold the same paths
// with the same types, modes, owners, contents, symlink targets, device
// numbers, xattrs (overlayfs's own excepted) and, below the root, mtimes.
func CompareTrees(t testing.TB, want, got string) {
	t.Helper()
	w, g := Describe(t, want), Describe(t, got)
	var diffs []string
	for p, wd := range w {
		if gd, ok := g[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s (%s)", p, wd))
		} else if gd != wd {
			diffs = append(diffs, fmt.Sprintf("%s:\n    want %s\n    got  %s", p, wd, gd))
		}
	}
	for p, gd := range g {
		if _, ok := w[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("unexpected %s (%s)", p, gd))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s differs from %s:\n  %s", got, want, strings.Join(diffs, "\n  "))
	}
}

// Describe maps each path below root to a one-line description of it.
func Describe(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d", st.Mode, st.Uid, st.Gid)
		if rel != "." {
			desc += fmt.Sprintf(" mtime=%d", st.Mtim.Sec)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if len(data) > 64 {
				data = append(data[:32:32], fmt.Sprintf("...(%d bytes, sum %d)", len(data), sum(data))...)
			}
			desc += fmt.Sprintf(" content=%q", data)
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			desc += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		desc += xattrs(p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return out
}

func sum(b []byte) (s uint32) {
	for i, c := range b {
		s = s*31 + uint32(c) + uint32(i)
	}
	return s
}

func xattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		if strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		v := make([]byte, 4096)
		m, _ := unix.Lgetxattr(p, name, v)
		fmt.Fprintf(&b, " xattr:%s=%q", name, v[:max(m, 0)])
	}
	return b.String()
}

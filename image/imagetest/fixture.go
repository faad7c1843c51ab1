package imagetest

import (
	"archive/tar"
	"testing"
)

// CapNetRaw is a security.capability xattr value (v2) granting cap_net_raw+ep.
var CapNetRaw = string([]byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

// FixtureLayers are three layers on top of Busybox that exercise what a
// correct unpack must get right: files added, changed and deleted, a file
// replaced by a directory and a directory by a file, a directory replaced
// wholesale (opaque), hard links, symlinks, a setuid file, a file capability,
// a device node, a fifo and owners other than root.
func FixtureLayers(t testing.TB) [][]byte {
	t.Helper()
	dir := func(name string, mode int64) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: mode} }
	l1 := Tar(t,
		dir("etc/", 0o755),
		Entry{Name: "etc/motd", Body: "v1"},
		dir("old/", 0o755), Entry{Name: "old/a", Body: "a"}, dir("old/sub/", 0o700), Entry{Name: "old/sub/c", Body: "c"},
		Entry{Name: "gone", Body: "bye"},
		Entry{Name: "becomes-dir", Body: "file first"},
		dir("dir-to-file/", 0o755), Entry{Name: "dir-to-file/child", Body: "child"},
		dir("usr/", 0o755), dir("usr/bin/", 0o755),
		Entry{Name: "usr/bin/su", Body: "su", Mode: 0o4755},
		Entry{Name: "usr/bin/sgid", Body: "sgid", Mode: 0o2711, GID: 42},
		Entry{Name: "usr/bin/ping", Body: "ping", Mode: 0o755, Xattrs: map[string]string{"security.capability": CapNetRaw}},
		dir("data/", 0o750),
		Entry{Name: "data/hl1", Body: "linked", UID: 1000, GID: 1000},
		Entry{Name: "data/hl2", Type: tar.TypeLink, Link: "data/hl1"},
		Entry{Name: "data/user-xattr", Body: "x", Xattrs: map[string]string{"user.note": "hello"}},
		Entry{Name: "link", Type: tar.TypeSymlink, Link: "etc/motd"},
		dir("dev/", 0o755),
		Entry{Name: "dev/null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
		Entry{Name: "fifo", Type: tar.TypeFifo, Mode: 0o620},
		dir("sticky/", 0o1777),
	)
	l2 := Tar(t,
		dir("etc/", 0o755),
		Entry{Name: "etc/motd", Body: "v2"},
		Entry{Name: ".wh.gone"},
		dir("becomes-dir/", 0o711), Entry{Name: "becomes-dir/inside", Body: "in"},
		Entry{Name: "dir-to-file", Body: "now a file"},
		dir("old/", 0o755), Entry{Name: "old/.wh..wh..opq"}, Entry{Name: "old/new", Body: "new"},
		Entry{Name: "abs-link", Type: tar.TypeSymlink, Link: "/usr/bin/su"},
	)
	l3 := Tar(t,
		dir("etc/", 0o755),
		Entry{Name: "etc/motd", Body: "v3", Mode: 0o600, UID: 1000, GID: 1000},
		dir("data/", 0o750),
		Entry{Name: "data/x", Body: "xy"},
		Entry{Name: "data/y", Type: tar.TypeLink, Link: "data/x"},
		Entry{Name: ".wh.link"},
		dir("usr/", 0o755), dir("usr/bin/", 0o755),
		Entry{Name: "usr/bin/.wh.sgid"},
	)
	return [][]byte{Busybox(t), l1, l2, l3}
}

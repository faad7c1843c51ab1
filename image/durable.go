package image

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The store and image layouts publish what they write by rename, so a reader
// never sees half of it. On disk the rename may reach the journal before the
// data it names (ext4's delayed allocation, xfs), and after a power loss a
// layer or blob that looks complete would hold empty or short files: its
// digest was checked before the crash, never after. So the data is synced
// before the rename, and the directory after it, so that a record written
// next (a bundle naming the layer, index.json naming the blob) does not
// outlive what it names.
//
// The functions are variables for the tests that check the order.
var (
	// syncFilesystem flushes the filesystem holding fd: one call for a
	// whole unpacked layer, where an fsync per file would cost a journal
	// commit for each of thousands of files.
	syncFilesystem = unix.Syncfs
	syncFile       = (*os.File).Sync
)

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syncFile(f); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// syncTree flushes the filesystem holding dir, which has just been written.
func syncTree(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := syncFilesystem(fd); err != nil {
		return fmt.Errorf("sync the filesystem of %s: %w", dir, err)
	}
	return nil
}

// Package podmanconf writes the configuration of a podman private to one
// test or benchmark: its storage, runroot, locks, events and network
// configuration all below one directory, so that it touches none of the
// machine's podman state and is removed with that directory. tests/e2e,
// tests/build and tests/benchimage run podman with it.
package podmanconf

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes containers.conf and storage.conf into dir and returns the
// environment that points podman at them.
//
// podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576 and more by
// default, above what many machines allow without CAP_SYS_RESOURCE in a
// container: the defaults ask for what they allow. Locks are files, not
// /dev/shm/libpod_lock; events go to a file in dir.
func Write(dir string) ([]string, error) {
	containers := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
lock_type = "file"
events_logger = "file"
events_logfile_path = %q
static_dir = %q
[network]
network_config_dir = %q
`, filepath.Join(dir, "events.log"), filepath.Join(dir, "root", "libpod"), filepath.Join(dir, "networks"))
	storage := fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "runroot"))
	for name, content := range map[string]string{"containers.conf": containers, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	return []string{"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"), "CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf")}, nil
}

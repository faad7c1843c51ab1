package main

import (
	"path/filepath"

	"github.com/strata-runtime/strata/tests/registrytest"
)

// startRegistry starts Debian's docker-registry on a free 127.0.0.1 port
// with its storage in the bench's temp dir, and returns its address. It is
// stopped at cleanup, and dies with the bench (Pdeathsig) if the bench is
// killed outright.
func (b *bench) startRegistry() (string, error) {
	r, err := registrytest.Start(filepath.Join(b.dir, "registry"), "", "")
	if err != nil {
		return "", err
	}
	b.onCleanup(r.Stop)
	return r.Addr, nil
}

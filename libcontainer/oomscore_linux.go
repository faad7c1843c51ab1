package libcontainer

import (
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setOOMScoreAdj writes process.oomScoreAdj for the init, from the parent.
// The init cannot always do it itself: in a user namespace it joined (a CRI
// pod's), its /proc files belong to the host's root (its mm was made before
// the join, and it is not dumpable), which the namespace's root may not
// open. The parent writes through the host's /proc, which no mount in the
// config can redirect (CVE-2025-52881), to its own child, whose pid cannot
// be reused before it is reaped. The container's process inherits it.
func setOOMScoreAdj(s *specs.Spec, pid int) error {
	if s.Process == nil || s.Process.OOMScoreAdj == nil {
		return nil
	}
	adj := *s.Process.OOMScoreAdj
	path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
	if err := os.WriteFile(path, []byte(strconv.Itoa(adj)), 0); err != nil {
		return fmt.Errorf("process.oomScoreAdj %d: %w", adj, err)
	}
	return nil
}

package libcontainer

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status is a container's state as runtime.md names it; "paused" is runc's
// addition.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// statusError refuses an operation in the current status and says why. The
// operation and the container are the caller's to name (see the rule in
// container.go).
func statusError(st Status, want string) error {
	return fmt.Errorf("status is %s (expected %s)", st, want)
}

// statFields returns the fields of /proc/PID/stat from field 3 (state)
// on. The command name (field 2) may hold spaces and parentheses: the
// fields come after its last ')'.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	return f, nil
}

// procStartTime returns field 22 of /proc/PID/stat (start time in clock
// ticks since boot) and whether the process is a zombie. Recorded at create
// and compared later, it tells our init from an unrelated process that was
// given the same pid after ours died.
func procStartTime(pid int) (start uint64, zombie bool, err error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, false, err
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z" || f[0] == "X", err
}

// alive says whether pid is still the process that had startTime.
func alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, zombie, err := procStartTime(pid)
	return err == nil && !zombie && st == startTime
}

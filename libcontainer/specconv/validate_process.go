package specconv

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/rlimit"
)

func (v *validator) process() {
	p := v.spec.Process
	if p == nil {
		v.fail("process", "required")
		return
	}
	if len(p.Args) == 0 {
		v.fail("process.args", "required (at least the program to run)")
	}
	for i, a := range p.Args {
		if strings.ContainsRune(a, 0) {
			v.fail(fmt.Sprintf("process.args[%d]", i), "%q contains a NUL byte", a)
		}
	}
	if !filepath.IsAbs(p.Cwd) {
		v.fail("process.cwd", "%q is not absolute", p.Cwd)
	}
	v.envList("process.env", p.Env)
	if u := p.User.Umask; u != nil && *u > 0o777 {
		v.fail("process.user.umask", "%#o is not a permission mask (expected at most 0777)", *u)
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		v.fail("process.oomScoreAdj", "%d out of range (expected -1000 to 1000)", *p.OOMScoreAdj)
	}
	v.rlimits(p.Rlimits)
}

func (v *validator) rlimits(rls []specs.POSIXRlimit) {
	seen := make(map[string]int)
	for i, rl := range rls {
		field := fmt.Sprintf("process.rlimits[%d]", i)
		if _, err := rlimit.Parse(rl.Type); err != nil {
			v.fail(field, "%v", err)
			continue
		}
		if j, dup := seen[rl.Type]; dup {
			v.fail(field, "duplicate type %s (also process.rlimits[%d])", rl.Type, j)
		}
		seen[rl.Type] = i
		if rl.Soft > rl.Hard {
			v.fail(field, "soft limit %d exceeds hard limit %d", rl.Soft, rl.Hard)
		}
	}
}

// ValidateProcess checks a process started by exec with the same rules as
// config.json's process.
func ValidateProcess(p *specs.Process) error {
	v := &validator{spec: &specs.Spec{Process: p}}
	v.process()
	return errors.Join(v.errs...)
}

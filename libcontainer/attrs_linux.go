package libcontainer

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/plan"
)

// ValidateAttributes checks the process attributes (libcontainer/plan) and
// refuses the runtime-spec features strata does not implement, naming the
// field.
func ValidateAttributes(spec *specs.Spec) error {
	if err := plan.ValidateAttributes(spec); err != nil {
		return err
	}
	if l := spec.Linux; l != nil {
		if l.IntelRdt != nil {
			return errors.New("linux.intelRdt: Intel RDT (resctrl) is not supported by strata")
		}
		if err := validateNetDevices(spec); err != nil {
			return err
		}
	}
	_, err := planLSM(spec)
	return err
}

// applyInitialAffinity runs fn on the calling thread with
// process.execCPUAffinity.initial in force, so that the process fn starts
// inherits it: "the CPUs a runtime parent process runs on before the
// transition to the container's cgroup". The thread's own affinity is
// restored afterwards. The caller holds its OS thread.
func applyInitialAffinity(p *specs.Process, fn func() error) error {
	if p == nil || p.ExecCPUAffinity == nil || p.ExecCPUAffinity.Initial == "" {
		return fn()
	}
	cpus, err := plan.ParseCPUs("process.execCPUAffinity.initial", p.ExecCPUAffinity.Initial)
	if err != nil {
		return err
	}
	var set, old unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("process.execCPUAffinity.initial: %w", err)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("process.execCPUAffinity.initial: sched_setaffinity: %w", err)
	}
	defer unix.SchedSetaffinity(0, &old)
	return fn()
}

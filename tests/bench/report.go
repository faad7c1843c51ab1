package main

import (
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/strata-runtime/strata/tests/bench/stats"
)

// preamble opens docs/benchmarks.md, whose top (up to its first "## "
// section) `make bench` rewrites.
const preamble = `# Benchmarks: strata, runc and crun

Written by ` + "`make bench`" + ` (tests/bench; not run in CI, where timings are too
noisy to gate on). Run as root; it builds ./strata and measures it with
/usr/sbin/runc and /usr/bin/crun on one busybox bundle (tests/rootfs, a read-only
root shared by every container; each container has its own config.json and an
absolute cgroupsPath /strata-bench/<id>, removed afterwards; ociVersion 1.0.2
because crun 1.8 refuses 1.3.0). For crun 1.8 on this hybrid host a v1 hugetlb
hierarchy is mounted in a temp dir for the run and unmounted after.
` + "`make bench BENCH_FLAGS='-reps 9'`" + ` changes the repetitions.

Items: 30 foreground ` + "`run`" + `s of /bin/true in a row (ms per run); the CPU
time of 30 such ` + "`run`" + `s, user and system, of the runtime process and the
children it reaped (the container's init and program), as wait4 reports it
(ms per run: it hardly moves with what else the host runs, and it bounds the
parallel throughput on a saturated machine); create +
start + wait (pidfd of the pid from --pid-file) + delete, 10 cycles; 10 ` + "`exec`" + `s
of /bin/true into a running container; VmRSS of the init in the created state, at
the pid ` + "`state`" + ` reports; peak RSS of the ` + "`run`" + ` process as
/usr/bin/time -f %M prints it (it includes children the runtime waited for);
completed runs per second of 8 parallel ` + "`run`" + ` loops.
The project's targets: ` + "`run`" + ` latency strata/crun <= 1.0, created-state init
RSS <= crun's.

The machine is shared with other work while this runs, so absolute numbers
drift; the interleaving makes the ratios the figures to read.

`

// render writes the report as markdown: the machine, the versions, the table
// (runtime order as given: strata, runc, crun) and why any cell is n/a.
func render(b *bench, items []item, res [][]*stats.Samples, reps int, took time.Duration) string {
	var w strings.Builder
	w.WriteString(preamble)
	kernel, _ := exec.Command("uname", "-r").Output()
	fmt.Fprintf(&w, "Measured %s on %d cores, Linux %s, cgroups %s; %d repetitions, runtimes interleaved (order rotated each repetition); took %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), goruntime.NumCPU(), strings.TrimSpace(string(kernel)), cgroupMode(), reps, took.Round(time.Second))
	for _, rt := range b.runtimes {
		fmt.Fprintf(&w, "- %s: `%s` (%s)\n", rt.name, rt.path, rt.version)
	}
	fmt.Fprintf(&w, "\nEach cell: median (min–max) over the repetitions. Ratios are of medians; for runs/s higher is better, for the others lower.\n\n")
	fmt.Fprintf(&w, "| item | unit |")
	for _, rt := range b.runtimes {
		fmt.Fprintf(&w, " %s |", rt.name)
	}
	fmt.Fprintf(&w, " %s/%s | %s/%s |\n|---|---|", b.runtimes[0].name, b.runtimes[1].name, b.runtimes[0].name, b.runtimes[2].name)
	for range b.runtimes {
		fmt.Fprintf(&w, "---|")
	}
	fmt.Fprintf(&w, "---|---|\n")
	var notes []string
	for i, it := range items {
		fmt.Fprintf(&w, "| %s | %s |", it.name, it.unit)
		for j, s := range res[i] {
			fmt.Fprintf(&w, " %s |", s.Cell())
			if s.Err != nil {
				notes = append(notes, fmt.Sprintf("- %s, %s: n/a: %s", it.name, b.runtimes[j].name, stats.OneLine(s.Err.Error(), 200)))
			}
		}
		fmt.Fprintf(&w, " %s | %s |\n", stats.Ratio(res[i][0], res[i][1]), stats.Ratio(res[i][0], res[i][2]))
	}
	if len(notes) > 0 {
		fmt.Fprintf(&w, "\n%s\n", strings.Join(notes, "\n"))
	}
	return w.String()
}

// cgroupMode tells v2 (unified), hybrid (v1 controllers plus a cgroup2 tree)
// or v1 apart.
func cgroupMode() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "v2 (unified)"
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		return "hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
	}
	return "v1"
}

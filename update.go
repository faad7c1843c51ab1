package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/libcontainer"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "update a container's resource limits",
	ArgsUsage: "<container-id>",
	Description: `Changes the limits of a created, running or paused container. With
--resources FILE (or - for stdin) the file is a linux.resources JSON object
and the other options are ignored, as in runc; fields it leaves out keep
their value. Memory values take a unit suffix (k, m, g: 1024-based).`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "path to a file holding the linux.resources JSON to apply, or - for stdin"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "per-cgroup block IO weight, 10 to 1000"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period in microseconds (0: the system default)"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota in microseconds per period (-1: no limit)"},
		&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU realtime period in microseconds"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU realtime runtime in microseconds per period"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use, such as 0-2,4"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use, such as 0"},
		&cli.StringFlag{Name: "cpu-idle", Usage: "1: SCHED_IDLE for the cgroup, 0: default"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit in bytes (-1: no limit)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit in bytes"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit in bytes (-1: unlimited swap)"},
		&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of pids (-1: no limit)"},
		&cli.StringFlag{Name: "kernel-memory", Hidden: true},
		&cli.StringFlag{Name: "kernel-memory-tcp", Hidden: true},
		&cli.StringFlag{Name: "l3-cache-schema", Usage: "Intel RDT L3 cache schema (not supported)"},
		&cli.StringFlag{Name: "mem-bw-schema", Usage: "Intel RDT memory bandwidth schema (not supported)"},
	},
	Action: func(ctx *cli.Context) error {
		req, err := updateRequest(ctx)
		if err != nil {
			return err
		}
		return onContainer(ctx, func(c *libcontainer.Container) error {
			var cur specs.LinuxResources
			if l := c.State.Config.Linux; l != nil && l.Resources != nil {
				cur = *deepCopy(l.Resources)
			}
			if err := mergeResources(&cur, req); err != nil {
				return err
			}
			return c.Update(&cur)
		})
	},
}

// updateRequest is the resources asked for: the -r file, or the flags.
func updateRequest(ctx *cli.Context) (*specs.LinuxResources, error) {
	if path := ctx.String("resources"); path != "" {
		var in io.Reader = os.Stdin
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			in = f
		}
		var r specs.LinuxResources
		dec := json.NewDecoder(in)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("--resources %s: not a linux.resources JSON object: %w", path, err)
		}
		return &r, nil
	}
	for _, f := range []string{"kernel-memory", "kernel-memory-tcp"} {
		if ctx.IsSet(f) {
			return nil, fmt.Errorf("--%s: kernel memory limits are not supported (obsolete)", f)
		}
	}
	for _, f := range []string{"l3-cache-schema", "mem-bw-schema"} {
		if ctx.IsSet(f) {
			return nil, fmt.Errorf("--%s: Intel RDT is not supported by strata", f)
		}
	}
	r := &specs.LinuxResources{}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	var err error
	set := func(flag string, parse func(string) error) {
		if err == nil && ctx.IsSet(flag) {
			if perr := parse(ctx.String(flag)); perr != nil {
				err = fmt.Errorf("--%s %q: %w", flag, ctx.String(flag), perr)
			}
		}
	}
	set("memory", func(s string) (e error) { mem().Limit, e = parseBytes(s); return })
	set("memory-reservation", func(s string) (e error) { mem().Reservation, e = parseBytes(s); return })
	set("memory-swap", func(s string) (e error) { mem().Swap, e = parseBytes(s); return })
	set("cpu-share", func(s string) (e error) { cpu().Shares, e = parseUint(s); return })
	set("cpu-period", func(s string) (e error) { cpu().Period, e = parseUint(s); return })
	set("cpu-quota", func(s string) (e error) { cpu().Quota, e = parseInt(s); return })
	set("cpu-rt-period", func(s string) (e error) { cpu().RealtimePeriod, e = parseUint(s); return })
	set("cpu-rt-runtime", func(s string) (e error) { cpu().RealtimeRuntime, e = parseInt(s); return })
	set("cpu-idle", func(s string) (e error) { cpu().Idle, e = parseInt(s); return })
	set("cpuset-cpus", func(s string) error { cpu().Cpus = s; return nil })
	set("cpuset-mems", func(s string) error { cpu().Mems = s; return nil })
	set("pids-limit", func(s string) (e error) {
		var v *int64
		v, e = parseInt(s)
		r.Pids = &specs.LinuxPids{Limit: v}
		return
	})
	set("blkio-weight", func(s string) error {
		v, e := strconv.ParseUint(s, 10, 16)
		if e != nil {
			return fmt.Errorf("expected a number from 10 to 1000")
		}
		w := uint16(v)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
		return nil
	})
	return r, err
}

func parseUint(s string) (*uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("expected a non-negative integer")
	}
	return &v, nil
}

func parseInt(s string) (*int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("expected an integer")
	}
	return &v, nil
}

// parseBytes reads "-1", a byte count, or a count with a 1024-based unit:
// 512k, 64m, 1g, 2GiB (as runc's units.RAMInBytes).
func parseBytes(s string) (*int64, error) {
	if s == "-1" {
		v := int64(-1)
		return &v, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("kmgtp", t[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return nil, fmt.Errorf("expected -1 or a size such as 1048576, 512k, 64m or 1g")
	}
	v := int64(f * float64(mult))
	return &v, nil
}

// mergeResources lays the fields req sets over cur: each pointer or list
// req gives replaces cur's, unified keys are merged. Device rules cannot
// be changed (as runc, update does not touch them); a request repeating
// the current ones, as containerd sends, is accepted.
func mergeResources(cur, req *specs.LinuxResources) error {
	if req.Devices != nil && !reflect.DeepEqual(req.Devices, cur.Devices) {
		return fmt.Errorf("linux.resources.devices: update cannot change device rules")
	}
	if m := req.Memory; m != nil {
		if cur.Memory == nil {
			cur.Memory = &specs.LinuxMemory{}
		}
		overlay(cur.Memory, m)
	}
	if c := req.CPU; c != nil {
		if cur.CPU == nil {
			cur.CPU = &specs.LinuxCPU{}
		}
		overlay(cur.CPU, c)
	}
	if p := req.Pids; p != nil && p.Limit != nil {
		cur.Pids = &specs.LinuxPids{Limit: p.Limit}
	}
	if b := req.BlockIO; b != nil {
		if cur.BlockIO == nil {
			cur.BlockIO = &specs.LinuxBlockIO{}
		}
		overlay(cur.BlockIO, b)
	}
	if req.HugepageLimits != nil {
		cur.HugepageLimits = req.HugepageLimits
	}
	if n := req.Network; n != nil {
		if cur.Network == nil {
			cur.Network = &specs.LinuxNetwork{}
		}
		overlay(cur.Network, n)
	}
	if req.Rdma != nil {
		cur.Rdma = req.Rdma
	}
	for k, v := range req.Unified {
		if cur.Unified == nil {
			cur.Unified = map[string]string{}
		}
		cur.Unified[k] = v
	}
	return nil
}

// overlay copies every non-zero field of src (a pointer to struct) to dst.
func overlay(dst, src any) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := 0; i < s.NumField(); i++ {
		if !s.Field(i).IsZero() {
			d.Field(i).Set(s.Field(i))
		}
	}
}

func deepCopy(r *specs.LinuxResources) *specs.LinuxResources {
	b, _ := json.Marshal(r)
	var out specs.LinuxResources
	json.Unmarshal(b, &out)
	return &out
}

//go:build strata_image

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/libcontainer"
	"github.com/strata-runtime/strata/libcontainer/cgroups"
	"github.com/strata-runtime/strata/libcontainer/host"
	"github.com/strata-runtime/strata/libcontainer/seccomp"
)

var checkCommand = &cli.Command{
	Name:  "check",
	Usage: checkUsage,
	Description: `Probes the host (each probe tries the real call) and prints, for each
feature, what was found and what strata does about it. The exit status is
non-zero only when no container can run here at all.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", Usage: "text or json"},
	},
	Action: func(ctx *cli.Context) error {
		format := ctx.String("format")
		if format != "text" && format != "json" {
			return fmt.Errorf("--format: invalid value %q (expected text or json)", format)
		}
		method, serr := libcontainer.SealMethod()
		r := hostCheck(host.Probe(), libcontainer.HostLSMs(), method, serr, bundle.ProbeIDMappedLayers(image.DefaultStore))
		if format == "json" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				return err
			}
		} else {
			r.writeText(os.Stdout)
		}
		if !r.Runnable {
			return &exitError{1}
		}
		return nil
	},
}

// checkItem is one line of the report.
type checkItem struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Found  string `json:"found"`
	Strata string `json:"strata,omitempty"` // what strata does about it here
	// Fatal: no container can run on this host because of this.
	Fatal bool `json:"fatal,omitempty"`
}

type checkReport struct {
	Kernel   string      `json:"kernel"`
	Runnable bool        `json:"runnable"`
	Checks   []checkItem `json:"checks"`
	Facts    *host.Facts `json:"facts"`
}

// found is the Found text of a probe result.
func found(r host.Result, yes string) string {
	if !r.OK {
		return r.Reason
	}
	if r.Detail != "" {
		return yes + ", " + r.Detail
	}
	return yes
}

// hostCheck turns the probes into the report. The Strata texts must say
// what the code does today: update them with the code they describe.
func hostCheck(f *host.Facts, lsm libcontainer.LSMs, sealMethod string, sealErr error, idmapLayers host.Result) *checkReport {
	r := &checkReport{Kernel: f.Kernel, Facts: f}
	add := func(it checkItem) { r.Checks = append(r.Checks, it) }
	item := func(name string, res host.Result, yes, then, otherwise string) {
		it := checkItem{Name: name, OK: res.OK, Found: found(res, yes), Strata: then}
		if !res.OK {
			it.Strata = otherwise
		}
		add(it)
	}

	root := checkItem{Name: "root", OK: f.Root, Found: "running as root"}
	if !f.Root {
		root.Found = fmt.Sprintf("running as uid %d", os.Geteuid())
		root.Strata = "rootless: containers need a user namespace of their own (`strata spec --rootless`), have no cgroup (resources, pause, ps, update need one) unless --systemd-cgroup puts them in a scope of the user's systemd manager, keep their state in $XDG_RUNTIME_DIR/strata; id maps other than the user's own need newuidmap/newgidmap"
	}
	add(root)

	// The init runs from a copy or mount of strata that cannot be written
	// through (CVE-2019-5736); without one, strata starts no container.
	seal := checkItem{Name: "init binary seal", OK: sealErr == nil, Found: sealMethod,
		Strata: "the init is executed from the strata binary sealed by " + sealMethod + " (CVE-2019-5736)"}
	if sealErr != nil {
		seal.Found, seal.Strata, seal.Fatal = sealErr.Error(), "no container can start: every way to seal the init binary failed", true
	}
	add(seal)

	proc := checkItem{Name: "/proc", OK: f.Proc.OK, Found: found(f.Proc, "procfs")}
	if !f.Proc.OK {
		proc.Strata = "strata reads and writes /proc/PID of every container: nothing can run"
		proc.Fatal = true
	}
	add(proc)

	add(cgroupItem(f.Cgroup))

	systemd := "--systemd-cgroup works: a container's cgroup is a transient scope systemd makes (linux.cgroupsPath \"slice:prefix:name\"); without the flag strata writes cgroupfs itself"
	hostErr := cgroups.SystemdHost()
	if !f.Root {
		systemd = "--systemd-cgroup works rootless: a container's cgroup is a transient scope the user's systemd manager makes in the subtree delegated to it (default slice user.slice); without the flag the container has no cgroup"
		hostErr = cgroups.SystemdUserHost()
	}
	if hostErr != nil {
		systemd = "refused: " + hostErr.Error()
	}
	item("systemd", f.Systemd, "PID 1 is systemd (/run/systemd/system)", systemd,
		"--systemd-cgroup is refused (no systemd to make a scope); strata writes cgroupfs itself, so configure the client for cgroupfs (containerd SystemdCgroup = false)")

	add(namespacesItem(f.Namespaces))
	item("user namespaces", f.UserNS, "usable",
		"containers may have a user namespace; `features` lists \"user\"",
		"containers with a user namespace fail to create; `features` leaves \"user\" out")

	item("new mount API", f.MountAPI, "fsopen/fsconfig/fsmount work",
		"masked directories are a tmpfs made with fsopen; bundle overlays are mounted with it",
		"masked directories (a tmpfs made with fsopen) and overlay bundles fail: there is no mount(2) fallback")
	item("open_tree/move_mount", joinResults(f.OpenTree, f.MoveMount), "work",
		"bind mounts are built detached and attached with move_mount",
		"bind mounts fail: they are built with open_tree, there is no mount(2) fallback")
	item("mount_setattr", f.MountSetattr, "works",
		"bind-mount flags (ro, nosuid, ...) are set before the mount is attached; recursive attributes (rro, ...) work",
		"bind mounts with flags and recursive attributes fail")
	item("idmapped mounts", f.IDMapMount, "the kernel makes them",
		"idmapped bind mounts (uidMappings, idmap) work, with or without a user namespace (with one, strata's parent makes them), and `features` reports mountExtensions.idmap enabled",
		"mounts with uidMappings/gidMappings or idmap fail; `features` reports mountExtensions.idmap disabled")
	item("overlayfs", f.Overlay, "present",
		"`strata bundle` composes image layers as an overlay",
		"`strata bundle` cannot make overlay rootfs: use --copy for a plain rootfs")
	item("overlay of idmapped layers", idmapLayers, "mounted",
		"`strata bundle create --uidmap/--gidmap` mounts the store's layers idmapped, so a user-namespaced container owns its rootfs without a chown or copy",
		"`strata bundle create --uidmap/--gidmap` fails (overlayfs takes idmapped layers since Linux 5.19, and the store's filesystem must take idmapped mounts); bundles without a map still work")
	item("overlay lowerdir+", f.LowerdirPlus, "fsconfig accepts it",
		"bundle overlays pass each layer as its own lowerdir+, so the layer count is not capped by the option string's page size",
		// bundle/overlay_classic.go: the fallback for kernels before 6.8.
		"bundles use the classic lowerdir= option through mount(2) (absolute paths, or fd numbers when they do not fit one page)")
	item("openat2", f.Openat2, "RESOLVE_IN_ROOT works",
		"mount targets are resolved with openat2(RESOLVE_IN_ROOT), so no symlink leads out of the rootfs",
		"mount targets inside the rootfs cannot be opened (openat2 RESOLVE_IN_ROOT has no fallback): containers with mounts fail")
	item("pidfd", f.Pidfd, "pidfd_open works",
		"kill signals the init through a pidfd, so a recycled pid is never signalled",
		"`strata kill` fails: it signals only through a pidfd")
	clone := f.CloneIntoCgroup
	item("clone3/CLONE_INTO_CGROUP", clone, "possible",
		"on pure cgroup v2 the init and exec'd processes are born in the container's cgroup (no cgroup.procs write; a refused clone3 falls back to the write)",
		"the init and exec'd processes are moved into their cgroups with a cgroup.procs write right after clone")

	sc := checkItem{Name: "seccomp", OK: f.Seccomp.OK, Found: found(f.Seccomp, "filters can be loaded")}
	if f.Seccomp.OK {
		flags := seccomp.SupportedFlags()
		sc.Strata = "linux.seccomp is applied; filter flags the kernel takes: " + orNone(flags)
	} else {
		sc.Strata = "containers with linux.seccomp fail; `features` reports seccomp disabled"
	}
	add(sc)
	item("seccomp notify", f.SeccompNotify, "user notification works",
		"SCMP_ACT_NOTIFY with linux.seccomp.listenerPath hands the listener fd to the agent",
		"SCMP_ACT_NOTIFY (listenerPath) fails")

	add(lsmItem(f.LSMs, lsm))

	r.Runnable = true
	for _, it := range r.Checks {
		if it.Fatal {
			r.Runnable = false
		}
	}
	return r
}

func cgroupItem(c host.Cgroups) checkItem {
	it := checkItem{Name: "cgroups", OK: c.Mode != host.CgroupNone}
	var v1 []string
	for _, h := range c.V1 {
		v1 = append(v1, strings.Join(h.Controllers, ","))
	}
	v2 := fmt.Sprintf("cgroup2 at %s (controllers: %s; subtree_control: %s)", c.V2Root, orNone(c.V2Controllers), orNone(c.V2SubtreeControl))
	switch c.Mode {
	case host.CgroupNone:
		it.Found = c.Reason
		it.Strata = "no cgroup filesystem: strata cannot place a container in a cgroup, nothing can run"
		it.Fatal = true
	case host.CgroupUnified:
		it.Found = "unified (v2 only): " + v2
		it.Strata = "resources are set through cgroup v2; a resource whose controller is not in cgroup.controllers is refused by name; v1-only fields (kernel memory, ...) are refused"
	case host.CgroupV1:
		it.Found = "v1 only: " + strings.Join(v1, " ")
		it.Strata = "cgroup v1 controllers only: resources are set through the v1 hierarchies, one whose controller is not mounted is refused by name; linux.resources.unified is refused"
	case host.CgroupHybrid:
		it.Found = "hybrid: v1 " + orNone(v1) + "; " + v2
		it.Strata = "cgroup v1 controllers: resources are set through the v1 hierarchies (the cgroup2 hierarchy's controllers are not used); linux.resources.unified is refused"
	}
	return it
}

func namespacesItem(ns map[string]host.Result) checkItem {
	var have, missing []string
	for _, k := range host.NamespaceKinds {
		if ns[k].OK {
			have = append(have, k)
		} else {
			missing = append(missing, k)
		}
	}
	it := checkItem{Name: "namespaces", OK: len(missing) == 0, Found: strings.Join(have, " ")}
	if len(missing) == 0 {
		it.Strata = "every namespace kind of the runtime-spec can be created"
		return it
	}
	it.Found += "; missing: " + strings.Join(missing, " ")
	it.Strata = "configs asking for a missing namespace fail to create; `features` lists only those present"
	for _, k := range missing {
		if k == "mnt" || k == "pid" {
			it.Strata = "no " + k + " namespace: strata cannot isolate a container, nothing can run"
			it.Fatal = true
		}
	}
	return it
}

func lsmItem(active []string, lsm libcontainer.LSMs) checkItem {
	it := checkItem{Name: "LSMs", OK: true, Found: "active: " + orNone(active)}
	if active == nil {
		it.Found = "securityfs not mounted or no LSM listed"
	}
	var s []string
	for _, l := range []struct {
		name  string
		on    bool
		field string
	}{{"AppArmor", lsm.AppArmor, "process.apparmorProfile"}, {"SELinux", lsm.SELinux, "process.selinuxLabel/mountLabel"}} {
		if l.on {
			s = append(s, l.name+" enabled: "+l.field+" is applied")
		} else {
			s = append(s, l.name+" not enabled: "+l.field+" is refused")
		}
	}
	it.Strata = strings.Join(s, "; ")
	return it
}

func joinResults(rs ...host.Result) host.Result {
	for _, r := range rs {
		if !r.OK {
			return r
		}
	}
	return host.Result{OK: true}
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, " ")
}

func (r *checkReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "kernel: %s\n", r.Kernel)
	for _, it := range r.Checks {
		status := "ok"
		switch {
		case it.Fatal:
			status = "FATAL"
		case !it.OK:
			status = "absent"
		}
		fmt.Fprintf(w, "%-8s %-25s %s\n", "["+status+"]", it.Name, it.Found)
		if it.Strata != "" {
			fmt.Fprintf(w, "%-8s %-25s -> %s\n", "", "", it.Strata)
		}
	}
	if r.Runnable {
		fmt.Fprintln(w, "containers can run on this host")
	} else {
		fmt.Fprintln(w, "containers cannot run on this host (see FATAL above)")
	}
}

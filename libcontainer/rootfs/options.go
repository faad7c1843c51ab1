package rootfs

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// MountOptions is a spec mount's option list sorted by the way the kernel
// wants each part: mount(2) flags, propagation changes, recursive mount
// attributes (mount_setattr), the idmap request and the filesystem's own data.
type MountOptions struct {
	// Flags are the MS_* flags the options turn on (ro, nosuid, bind...).
	Flags uintptr
	// Cleared are the MS_* flags an option explicitly turns off (rw, suid,
	// dev, exec...). A fresh mount starts without them anyway; a bind mount
	// copies its source's flags, so for binds they are cleared on the new mount.
	Cleared uintptr
	// Propagation holds MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (with
	// MS_REC for the r* forms) in the order given; each is one mount(2) call.
	Propagation []uintptr
	// RecAttr comes from the r* options (rro, rnosuid, rnoatime...) and is
	// applied to the whole mount tree with mount_setattr(AT_RECURSIVE).
	RecAttr unix.MountAttr
	// IDMap is set by "idmap" or "ridmap"; RecursiveIDMap by "ridmap".
	IDMap          bool
	RecursiveIDMap bool
	// TmpCopyUp ("tmpcopyup", a runc extension podman uses) fills a tmpfs
	// with what the destination directory held before it was mounted over.
	TmpCopyUp bool
	// Data is every option not known here, comma-joined, for the
	// filesystem (tmpfs size=, mode=, devpts newinstance...).
	Data string
}

// flagOption says what a classic mount option does to the MS_* flags.
type flagOption struct {
	clear bool
	flag  uintptr
}

// The option tables are built on first use: as package-level maps they were
// built by the initialiser of a package every strata start links, though
// only create, run and exec parse mount options.

// The same vocabulary as mount(8) and runc.
var flagOptions = sync.OnceValue(func() map[string]flagOption {
	return map[string]flagOption{
		"acl":           {false, unix.MS_POSIXACL},
		"async":         {true, unix.MS_SYNCHRONOUS},
		"atime":         {true, unix.MS_NOATIME},
		"bind":          {false, unix.MS_BIND},
		"defaults":      {false, 0},
		"dev":           {true, unix.MS_NODEV},
		"diratime":      {true, unix.MS_NODIRATIME},
		"dirsync":       {false, unix.MS_DIRSYNC},
		"exec":          {true, unix.MS_NOEXEC},
		"iversion":      {false, unix.MS_I_VERSION},
		"lazytime":      {false, unix.MS_LAZYTIME},
		"loud":          {true, unix.MS_SILENT},
		"mand":          {false, unix.MS_MANDLOCK},
		"noacl":         {true, unix.MS_POSIXACL},
		"noatime":       {false, unix.MS_NOATIME},
		"nodev":         {false, unix.MS_NODEV},
		"nodiratime":    {false, unix.MS_NODIRATIME},
		"noexec":        {false, unix.MS_NOEXEC},
		"noiversion":    {true, unix.MS_I_VERSION},
		"nolazytime":    {true, unix.MS_LAZYTIME},
		"nomand":        {true, unix.MS_MANDLOCK},
		"norelatime":    {true, unix.MS_RELATIME},
		"nostrictatime": {true, unix.MS_STRICTATIME},
		"nosuid":        {false, unix.MS_NOSUID},
		"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
		"rbind":         {false, unix.MS_BIND | unix.MS_REC},
		"relatime":      {false, unix.MS_RELATIME},
		"remount":       {false, unix.MS_REMOUNT},
		"ro":            {false, unix.MS_RDONLY},
		"rw":            {true, unix.MS_RDONLY},
		"silent":        {false, unix.MS_SILENT},
		"strictatime":   {false, unix.MS_STRICTATIME},
		"suid":          {true, unix.MS_NOSUID},
		"symfollow":     {true, unix.MS_NOSYMFOLLOW},
		"sync":          {false, unix.MS_SYNCHRONOUS},
	}
})

var propagationOptions = sync.OnceValue(func() map[string]uintptr {
	return map[string]uintptr{
		"private":     unix.MS_PRIVATE,
		"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
		"shared":      unix.MS_SHARED,
		"rshared":     unix.MS_SHARED | unix.MS_REC,
		"slave":       unix.MS_SLAVE,
		"rslave":      unix.MS_SLAVE | unix.MS_REC,
		"unbindable":  unix.MS_UNBINDABLE,
		"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
	}
})

// recAttrOptions are the recursive forms. The atime modes are an enum in
// mount_setattr, not bits: setting one requires MOUNT_ATTR__ATIME in
// attr_clr, so every atime option picks a whole mode. Turning a mode off
// (ratime, rnostrictatime) returns to the kernel's default, relatime;
// rnorelatime means "update atime every time", i.e. strictatime.
var recAttrOptions = sync.OnceValue(func() map[string]unix.MountAttr {
	return map[string]unix.MountAttr{
		"rro":            {Attr_set: unix.MOUNT_ATTR_RDONLY},
		"rrw":            {Attr_clr: unix.MOUNT_ATTR_RDONLY},
		"rnosuid":        {Attr_set: unix.MOUNT_ATTR_NOSUID},
		"rsuid":          {Attr_clr: unix.MOUNT_ATTR_NOSUID},
		"rnodev":         {Attr_set: unix.MOUNT_ATTR_NODEV},
		"rdev":           {Attr_clr: unix.MOUNT_ATTR_NODEV},
		"rnoexec":        {Attr_set: unix.MOUNT_ATTR_NOEXEC},
		"rexec":          {Attr_clr: unix.MOUNT_ATTR_NOEXEC},
		"rnodiratime":    {Attr_set: unix.MOUNT_ATTR_NODIRATIME},
		"rdiratime":      {Attr_clr: unix.MOUNT_ATTR_NODIRATIME},
		"rnosymfollow":   {Attr_set: unix.MOUNT_ATTR_NOSYMFOLLOW},
		"rsymfollow":     {Attr_clr: unix.MOUNT_ATTR_NOSYMFOLLOW},
		"rnoatime":       {Attr_clr: unix.MOUNT_ATTR__ATIME, Attr_set: unix.MOUNT_ATTR_NOATIME},
		"rrelatime":      {Attr_clr: unix.MOUNT_ATTR__ATIME, Attr_set: unix.MOUNT_ATTR_RELATIME},
		"rstrictatime":   {Attr_clr: unix.MOUNT_ATTR__ATIME, Attr_set: unix.MOUNT_ATTR_STRICTATIME},
		"ratime":         {Attr_clr: unix.MOUNT_ATTR__ATIME, Attr_set: unix.MOUNT_ATTR_RELATIME},
		"rnostrictatime": {Attr_clr: unix.MOUNT_ATTR__ATIME, Attr_set: unix.MOUNT_ATTR_RELATIME},
		"rnorelatime":    {Attr_clr: unix.MOUNT_ATTR__ATIME, Attr_set: unix.MOUNT_ATTR_STRICTATIME},
	}
})

// ParseOptions splits a spec mount's options. It fails only for an "r"
// form of a known flag that has no recursive meaning (rsync, rremount,
// rmand...): silently passing those to the filesystem as data would hide
// the mistake. Other unknown options are filesystem data, as in mount(8).
func ParseOptions(options []string) (MountOptions, error) {
	var o MountOptions
	var data []string
	for _, opt := range options {
		if f, ok := flagOptions()[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
				o.Cleared |= f.flag
			} else {
				o.Flags |= f.flag
				o.Cleared &^= f.flag
			}
			continue
		}
		if p, ok := propagationOptions()[opt]; ok {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		if a, ok := recAttrOptions()[opt]; ok {
			// A later option wins over an earlier opposite one.
			o.RecAttr.Attr_set &^= a.Attr_clr
			o.RecAttr.Attr_clr &^= a.Attr_set
			o.RecAttr.Attr_set |= a.Attr_set
			o.RecAttr.Attr_clr |= a.Attr_clr
			continue
		}
		switch opt {
		case "idmap":
			o.IDMap = true
			continue
		case "ridmap":
			o.IDMap, o.RecursiveIDMap = true, true
			continue
		case "tmpcopyup":
			o.TmpCopyUp = true
			continue
		}
		if base, ok := strings.CutPrefix(opt, "r"); ok {
			if _, known := flagOptions()[base]; known {
				return MountOptions{}, fmt.Errorf("option %q: %q has no recursive form", opt, base)
			}
		}
		data = append(data, opt)
	}
	o.Data = strings.Join(data, ",")
	return o, nil
}

// PerMountAttrs translates the per-mount MS_* flags into mount_setattr
// attributes for the top mount of a bind. Superblock flags (sync, mand,
// dirsync...) have no per-mount form: a bind remount ignores them too.
// Only an explicit atime mode changes atime; "atime" or "norelatime"
// alone keep the source's mode, as a classic MS_REMOUNT|MS_BIND does.
func (o MountOptions) PerMountAttrs() unix.MountAttr {
	bits := []struct {
		ms   uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
		{unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	}
	var a unix.MountAttr
	for _, b := range bits {
		if o.Flags&b.ms != 0 {
			a.Attr_set |= b.attr
		}
		if o.Cleared&b.ms != 0 {
			a.Attr_clr |= b.attr
		}
	}
	switch {
	case o.Flags&unix.MS_NOATIME != 0:
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
		a.Attr_set |= unix.MOUNT_ATTR_NOATIME
	case o.Flags&unix.MS_STRICTATIME != 0:
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
		a.Attr_set |= unix.MOUNT_ATTR_STRICTATIME
	case o.Flags&unix.MS_RELATIME != 0:
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
		a.Attr_set |= unix.MOUNT_ATTR_RELATIME
	}
	return a
}

// PropagationFlag parses linux.rootfsPropagation.
func PropagationFlag(value string) (uintptr, error) {
	p, ok := propagationOptions()[value]
	if !ok {
		return 0, fmt.Errorf("linux.rootfsPropagation %q: expected one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable", value)
	}
	return p, nil
}

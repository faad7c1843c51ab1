package rootfs

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		want MountOptions
	}{
		{"empty", nil, MountOptions{}},
		{"classic flags", []string{"nosuid", "noexec", "nodev", "ro", "strictatime", "sync", "dirsync", "mand"},
			MountOptions{Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY | unix.MS_STRICTATIME |
				unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_MANDLOCK}},
		{"later option wins", []string{"ro", "rw", "nosuid", "suid", "noexec"},
			MountOptions{Flags: unix.MS_NOEXEC, Cleared: unix.MS_RDONLY | unix.MS_NOSUID}},
		{"clear then set", []string{"rw", "ro"}, MountOptions{Flags: unix.MS_RDONLY}},
		{"rbind", []string{"rbind"}, MountOptions{Flags: unix.MS_BIND | unix.MS_REC}},
		{"atime flags", []string{"noatime", "nodiratime", "relatime", "norelatime", "nostrictatime", "atime", "diratime"},
			MountOptions{Cleared: unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_NOATIME | unix.MS_NODIRATIME}},
		{"propagation in order", []string{"rprivate", "shared", "slave", "runbindable"},
			MountOptions{Propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED, unix.MS_SLAVE, unix.MS_UNBINDABLE | unix.MS_REC}}},
		{"recursive attrs", []string{"rro", "rnosuid", "rnodev", "rnoexec", "rnoatime"},
			MountOptions{RecAttr: unix.MountAttr{
				Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NOATIME,
				Attr_clr: unix.MOUNT_ATTR__ATIME}}},
		{"recursive later wins", []string{"rro", "rrw", "rstrictatime", "rrelatime"},
			MountOptions{RecAttr: unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR__ATIME, Attr_set: unix.MOUNT_ATTR_RELATIME}}},
		{"idmap", []string{"bind", "idmap"}, MountOptions{Flags: unix.MS_BIND, IDMap: true}},
		{"ridmap", []string{"rbind", "ridmap"}, MountOptions{Flags: unix.MS_BIND | unix.MS_REC, IDMap: true, RecursiveIDMap: true}},
		{"tmpcopyup", []string{"tmpcopyup", "mode=755"}, MountOptions{TmpCopyUp: true, Data: "mode=755"}},
		{"data kept in order", []string{"nosuid", "size=65536k", "mode=755", "newinstance", "rsize=8192"},
			MountOptions{Flags: unix.MS_NOSUID, Data: "size=65536k,mode=755,newinstance,rsize=8192"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOptions(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseOptions(%q)\n got %+v\nwant %+v", tt.opts, got, tt.want)
			}
		})
	}
}

func TestParseOptionsUnknownRecursive(t *testing.T) {
	for _, opt := range []string{"rsync", "rremount", "rmand", "rdirsync", "rdefaults"} {
		_, err := ParseOptions([]string{"rbind", opt})
		if err == nil || !strings.Contains(err.Error(), `option "`+opt+`"`) || !strings.Contains(err.Error(), "no recursive form") {
			t.Errorf("ParseOptions(%q): error %v, want one naming the option and saying it has no recursive form", opt, err)
		}
	}
}

func TestPerMountAttrs(t *testing.T) {
	tests := []struct {
		opts []string
		want unix.MountAttr
	}{
		{[]string{"bind"}, unix.MountAttr{}},
		{[]string{"bind", "ro", "nosuid"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}},
		{[]string{"bind", "rw", "exec", "dev"}, unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV}},
		{[]string{"bind", "noatime"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		{[]string{"bind", "strictatime"}, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME}},
		// Clearing a mode keeps the source's atime, as MS_REMOUNT does.
		{[]string{"bind", "atime", "norelatime"}, unix.MountAttr{}},
		// Superblock flags have no per-mount form.
		{[]string{"bind", "sync", "mand"}, unix.MountAttr{}},
	}
	for _, tt := range tests {
		o, err := ParseOptions(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.PerMountAttrs(); got != tt.want {
			t.Errorf("%q: PerMountAttrs %+v, want %+v", tt.opts, got, tt.want)
		}
	}
}

func TestPropagationFlag(t *testing.T) {
	if f, err := PropagationFlag("rslave"); err != nil || f != unix.MS_SLAVE|unix.MS_REC {
		t.Fatalf("rslave: %#x, %v", f, err)
	}
	_, err := PropagationFlag("rbind")
	if err == nil || !strings.Contains(err.Error(), `linux.rootfsPropagation "rbind"`) {
		t.Fatalf("rbind: error %v, want one naming linux.rootfsPropagation", err)
	}
}

package seccomp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckNamesTheField(t *testing.T) {
	one := uint(1)
	for _, tc := range []struct {
		s    specs.LinuxSeccomp
		want string
	}{
		{specs.LinuxSeccomp{DefaultAction: "X"}, `linux.seccomp.defaultAction: unknown action "X"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: &one}, "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW takes no errno"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"a"}, Action: specs.ActErrno}, {Names: []string{"b"}, Action: "SCMP_ACT_FOO"}, {}, {}}},
			`linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_FOO"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}}, "linux.seccomp.syscalls[0].names: must name"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
			"linux.seccomp.syscalls[0].args[0].index: 6"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/x"}, "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerMetadata: "m"}, "linux.seccomp.listenerMetadata"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/x", Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActNotify}}},
			"linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for write"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_PDP11"}}, `linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_PDP11"`},
	} {
		err := Check(&tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want %q", tc.s, err, tc.want)
		}
	}
}

func TestCompileWarnsAndCaches(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Flags:         []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG"},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "bogus_call"}, Action: specs.ActAllow},
			{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0, Op: specs.OpEqualTo}, {Index: 1, Value: 15, Op: specs.OpEqualTo}}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7E020000, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			{Names: []string{"mkdir"}, Action: specs.ActErrno}, // same as the default: skipped
		},
	}
	dir := t.TempDir()
	p, warnings, err := Cached(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `linux.seccomp.syscalls[0].names[2]: unknown syscall "bogus_call"`) {
		t.Errorf("warnings: %q", warnings)
	}
	if len(p.BPF) == 0 || len(p.BPF)%8 != 0 || p.Flags != FlagLog || p.Notify {
		t.Errorf("program: %d bytes, flags %#x, notify %v", len(p.BPF), p.Flags, p.Notify)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.bpf"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	// A hit returns the file's bytes (here altered) and the warnings.
	if err := os.WriteFile(files[0], []byte("12345678"), 0o600); err != nil {
		t.Fatal(err)
	}
	p2, w2, err := Cached(dir, s)
	if err != nil || string(p2.BPF) != "12345678" || len(w2) != 1 {
		t.Errorf("cache hit: %q %q %v", p2.BPF, w2, err)
	}
	// The listener settings are no part of the key; the rules are.
	s.ListenerPath = "/elsewhere"
	if p3, _, _ := Cached(dir, s); string(p3.BPF) != "12345678" {
		t.Error("listenerPath changed the cache key")
	}
	s.Syscalls[0].Names = []string{"read"}
	if p4, _, _ := Cached(dir, s); string(p4.BPF) == "12345678" {
		t.Error("a different profile hit the cache")
	}
}

func defaultProfile(b *testing.B) *specs.LinuxSeccomp {
	data, err := os.ReadFile("../../tests/seccomp/default.json")
	if err != nil {
		b.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(data, &s); err != nil {
		b.Fatal(err)
	}
	return &s
}

// BenchmarkCompileDefault is what runc and crun pay per container for the
// docker-style profile; BenchmarkCachedDefault what strata pays.
func BenchmarkCompileDefault(b *testing.B) {
	s := defaultProfile(b)
	for b.Loop() {
		if _, _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCachedDefault(b *testing.B) {
	s, dir := defaultProfile(b), b.TempDir()
	if _, _, err := Cached(dir, s); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := Cached(dir, s); err != nil {
			b.Fatal(err)
		}
	}
}

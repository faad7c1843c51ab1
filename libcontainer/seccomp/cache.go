package seccomp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cacheFormat changes whenever what Compile produces for one input does.
const cacheFormat = "strata-seccomp-2" // 2: the ENOSYS stub

// Cached returns the compiled program for s, compiling it only when
// <dir>/<key>.bpf does not exist yet. The key hashes the profile's JSON
// (the rules, the actions; not listenerPath and listenerMetadata, which
// are no part of the filter), libseccomp's version and the architecture.
// Files are written to a temporary name and renamed: concurrent creates
// either find a complete file or compile and rename the same bytes.
// Warnings (unknown syscalls skipped) are stored beside the BPF so that a
// cache hit reports them too.
func Cached(dir string, s *specs.LinuxSeccomp) (*Program, []string, error) {
	if err := Check(s); err != nil {
		return nil, nil, err
	}
	key, err := cacheKey(s)
	if err != nil {
		return nil, nil, err
	}
	flags, _ := KernelFlags(s)
	base := filepath.Join(dir, key)
	if bpf, err := os.ReadFile(base + ".bpf"); err == nil && len(bpf) > 0 && len(bpf)%8 == 0 {
		var warnings []string
		if w, err := os.ReadFile(base + ".warnings"); err == nil {
			warnings = strings.Split(strings.TrimSuffix(string(w), "\n"), "\n")
		}
		return &Program{BPF: bpf, Flags: flags, Notify: UsesNotify(s)}, warnings, nil
	}
	p, warnings, err := Compile(s)
	if err != nil {
		return nil, nil, err
	}
	// A cache that cannot be written costs speed, not correctness.
	if err := os.MkdirAll(dir, 0o700); err == nil {
		if len(warnings) > 0 {
			_ = writeAtomic(base+".warnings", []byte(strings.Join(warnings, "\n")+"\n"))
		}
		_ = writeAtomic(base+".bpf", p.BPF)
	}
	return p, warnings, nil
}

// cacheKey is the hex sha256 of what decides the BPF.
func cacheKey(s *specs.LinuxSeccomp) (string, error) {
	rules := *s
	rules.ListenerPath, rules.ListenerMetadata, rules.Flags = "", "", nil
	b, err := json.Marshal(&rules)
	if err != nil {
		return "", fmt.Errorf("linux.seccomp: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00libseccomp %s\x00%s\x00", cacheFormat, LibraryVersion(), runtime.GOARCH)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

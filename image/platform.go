package image

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/strata-runtime/strata/image/ocispec"
)

// ParsePlatform parses "os/arch[/variant]"; empty means the host's platform.
func ParsePlatform(s string) (ocispec.Platform, error) {
	if s == "" {
		return ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH, Variant: hostVariant()}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("--platform %q: expected os/arch or os/arch/variant", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func hostVariant() string {
	switch runtime.GOARCH {
	case "arm64":
		return "v8"
	case "arm":
		return "v7"
	}
	return ""
}

// platformMatches compares an index entry's platform with the one wanted; a
// variant only counts when both name one, as "arm64" images often omit "v8".
func platformMatches(have *ocispec.Platform, want ocispec.Platform) bool {
	if have == nil {
		return false
	}
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	return have.Variant == "" || want.Variant == "" || have.Variant == want.Variant
}

func formatPlatform(p *ocispec.Platform) string {
	if p == nil {
		return "(no platform)"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

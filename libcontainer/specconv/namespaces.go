package specconv

import specs "github.com/opencontainers/runtime-spec/specs-go"

// FindNamespace returns the namespace of type t the spec lists, new (no
// path) or joined, and whether it lists one.
func FindNamespace(s *specs.Spec, t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	if s == nil || s.Linux == nil {
		return specs.LinuxNamespace{}, false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

package image

import "testing"

func TestParseDockerRef(t *testing.T) {
	for _, c := range []struct{ in, host string }{
		{"docker://127.0.0.1:5000/x:1", "127.0.0.1:5000"},
		{"docker://localhost:5000/a/b@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "localhost:5000"},
		{"docker://registry.example/x:1@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "registry.example"},
		{"docker://busybox", "index.docker.io"},
	} {
		r, err := ParseRef(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if r.Transport != Docker || r.String() != c.in || r.RegistryHost() != c.host {
			t.Errorf("%s: parsed as %+v (%s, host %s)", c.in, r, r, r.RegistryHost())
		}
		if abs, err := r.Abs(); err != nil || abs != r {
			t.Errorf("%s: Abs changed a registry reference to %+v (%v)", c.in, abs, err)
		}
	}
	for _, bad := range []string{"docker://", "docker://UPPER/x", "docker://h/x@sha256:short"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true, "localhost:80": true,
		"10.0.0.1:5000": false, "192.168.1.2": false, "registry.local:5000": false, "example.com": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

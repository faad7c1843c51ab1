package bundle_test

import (
	"encoding/json"
	"runtime"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func imageConfig() v1.ImageConfig {
	return v1.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}}
}

func foreignPlatform() *v1.Platform {
	if runtime.GOARCH == "arm64" {
		return &v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	return &v1.Platform{OS: "linux", Architecture: "arm64"}
}

func goarch() string { return runtime.GOARCH }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

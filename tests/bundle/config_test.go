package bundle_test

import (
	"runtime"

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

package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
)

// keychain finds a registry's credentials: go-containerregistry's default
// (~/.docker/config.json or $DOCKER_CONFIG, with their credential helpers;
// containers' auth.json only when there is no docker config), then
// $XDG_RUNTIME_DIR/containers/auth.json, where podman login writes, even
// beside a docker config that does not name the registry.
var keychain = authn.NewMultiKeychain(authn.DefaultKeychain, containersAuth{})

// containersAuth reads containers-auth.json(5), the docker config's "auths"
// map in a file of its own.
type containersAuth struct{}

func (containersAuth) Resolve(target authn.Resource) (authn.Authenticator, error) {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		return authn.Anonymous, nil
	}
	p := filepath.Join(dir, "containers", "auth.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return authn.Anonymous, nil
	} else if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	var f struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("credentials %s: invalid JSON: %w", p, err)
	}
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if cfg, ok := f.Auths[key]; ok {
			return authn.FromConfig(cfg), nil
		}
	}
	return authn.Anonymous, nil
}

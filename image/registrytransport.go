package image

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registryBackoff retries a failed request twice, briefly: enough for a
// registry that drops a connection, short enough that an unreachable one is
// reported in about a second rather than go-containerregistry's four.
var registryBackoff = remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Steps: 3}

// registryTransport is the HTTP transport for one registry. Plain HTTP is
// allowed only to a loopback registry or one named insecure: with other
// hosts go-containerregistry also falls back to HTTP (for RFC 1918 addresses
// and *.local), which would send credentials and unverified layers over the
// network. An insecure registry's certificate is not verified either, as
// docker's insecure-registries and containers' registries.conf mean it.
func registryTransport(reg name.Registry, insecure bool) http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by --insecure-registry
	}
	return &plainHTTPGuard{next: t, host: reg.RegistryStr(), allowed: insecure || isLoopback(reg.RegistryStr())}
}

type plainHTTPGuard struct {
	next    http.RoundTripper
	host    string
	allowed bool
}

func (g *plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	// A token service may live elsewhere; only the registry's own host is
	// held to its permission, others must be HTTPS.
	if req.URL.Scheme == "http" && !(g.allowed && req.URL.Host == g.host) {
		return nil, fmt.Errorf("registry %s: plain HTTP to %s refused (only loopback registries, and those named with --insecure-registry %s, are reached without TLS)", g.host, req.URL.Host, g.host)
	}
	return g.next.RoundTrip(req)
}

// isLoopback reports whether a registry's host (HOST[:PORT]) is this machine.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// describeRegistryError says what was asked of which registry and, for the
// distribution API's error codes, what they mean in a user's words; the
// registry's own text follows.
func describeRegistryError(repo name.Repository, what string, err error) error {
	where := repo.Name()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return fmt.Errorf("registry %s: %s: %w", repo.RegistryStr(), what, err)
	}
	switch {
	case terr.StatusCode == http.StatusUnauthorized || hasCode(terr, transport.UnauthorizedErrorCode):
		return fmt.Errorf("%s: %s: authentication failed (check the credentials for %s in ~/.docker/config.json or $XDG_RUNTIME_DIR/containers/auth.json): %w",
			where, what, repo.RegistryStr(), err)
	case terr.StatusCode == http.StatusForbidden || hasCode(terr, transport.DeniedErrorCode):
		return fmt.Errorf("%s: %s: access denied: %w", where, what, err)
	case hasCode(terr, transport.ManifestUnknownErrorCode):
		return fmt.Errorf("%s: %s: no such manifest in the repository: %w", where, what, err)
	case hasCode(terr, transport.NameUnknownErrorCode):
		return fmt.Errorf("%s: %s: no such repository: %w", where, what, err)
	case hasCode(terr, transport.BlobUnknownErrorCode), terr.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: %s: the registry does not have it, though the manifest names it: %w", where, what, err)
	}
	return fmt.Errorf("%s: %s: %w", where, what, err)
}

func hasCode(e *transport.Error, code transport.ErrorCode) bool {
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

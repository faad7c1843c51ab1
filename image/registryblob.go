package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/strata-runtime/strata/image/ocispec"
)

// blobClient fetches one repository's blobs as raw streams. go-containerregistry's
// remote.Layer would hash each blob a second time while UnpackLayer hashes it
// anyway (and words its own error), so blobs are fetched through the same
// library's authenticated transport instead: its /v2/ ping, token exchange
// and retries, with the request made here.
type blobClient struct {
	repo     name.Repository
	insecure bool

	once   sync.Once
	client *http.Client
	err    error
}

// http returns the authenticated client, made (one ping, one token) on first use.
func (c *blobClient) http() (*http.Client, error) {
	c.once.Do(func() {
		auth, err := keychain.Resolve(c.repo)
		if err != nil {
			c.err = fmt.Errorf("registry %s: credentials: %w", c.repo.RegistryStr(), err)
			return
		}
		base := transport.NewUserAgent(transport.NewRetry(registryTransport(c.repo.Registry, c.insecure),
			transport.WithRetryBackoff(registryBackoff)), "strata")
		rt, err := transport.NewWithContext(context.Background(), c.repo.Registry, auth, base, []string{c.repo.Scope(transport.PullScope)})
		if err != nil {
			c.err = describeRegistryError(c.repo, "blobs", err)
			return
		}
		c.client = &http.Client{Transport: rt}
	})
	return c.client, c.err
}

// open starts a GET of the blob; the caller verifies it as it reads.
func (c *blobClient) open(d ocispec.Descriptor) (io.ReadCloser, error) {
	client, err := c.http()
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: c.repo.Registry.Scheme(), Host: c.repo.RegistryStr(), Path: "/v2/" + c.repo.RepositoryStr() + "/blobs/" + d.Digest.String()}
	resp, err := client.Get(u.String())
	if err != nil {
		return nil, describeRegistryError(c.repo, "blob", err)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, describeRegistryError(c.repo, "blob", err)
	}
	return resp.Body, nil
}

// Package registrytest runs Debian's docker-registry (the distribution
// reference implementation) on a free port of 127.0.0.1, with its storage,
// configuration and log in one directory: tests/pull starts one per test,
// and tests/benchimage one per run. It returns errors rather than taking a
// testing.T, so that the bench, not a test, can use it too.
package registrytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is Debian's docker-registry.
const Binary = "/usr/bin/docker-registry"

// Registry is one docker-registry process.
type Registry struct {
	Addr    string // 127.0.0.1:PORT
	Storage string // its filesystem storage root
	Log     string // its log, the access log included
	cmd     *exec.Cmd
	logf    *os.File
	done    chan struct{}
}

// Start starts a registry in dir (made if missing); with user set, it takes
// htpasswd (basic) credentials user:password. It returns once /v2/ answers,
// and fails as soon as the process exits before that (its port taken, a
// bad config). Stop ends it; it also dies with the caller (Pdeathsig) and
// never gets the caller's signals (a process group of its own).
func Start(dir, user, password string) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Addr: addr, Storage: filepath.Join(dir, "storage"), Log: filepath.Join(dir, "registry.log"), done: make(chan struct{})}
	cfgPath, err := r.writeConfig(dir, user, password)
	if err != nil {
		return nil, err
	}
	if r.logf, err = os.Create(r.Log); err != nil {
		return nil, err
	}
	r.cmd = exec.Command(Binary, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = r.logf, r.logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		r.logf.Close()
		return nil, fmt.Errorf("starting %s: %w", Binary, err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	if err := r.awaitReady(); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// writeConfig writes config.yml (and htpasswd for a user) into dir.
func (r *Registry) writeConfig(dir, user, password string) (string, error) {
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return "", err
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			return "", err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: strata-test\n    path: %s\n", htpasswd)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
%s`, r.Storage, r.Addr, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	return cfgPath, os.WriteFile(cfgPath, []byte(config), 0o600)
}

// awaitReady polls /v2/ for up to 10 s: 200, or 401 with credentials set.
func (r *Registry) awaitReady() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-r.done:
			log, _ := os.ReadFile(r.Log)
			return fmt.Errorf("%s on %s exited before it answered (%v):\n%s", Binary, r.Addr, r.cmd.ProcessState, log)
		default:
		}
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(r.Log)
			return fmt.Errorf("the registry on %s did not answer /v2/ within 10s (%v):\n%s", r.Addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the registry and waits for it.
func (r *Registry) Stop() {
	r.cmd.Process.Kill()
	<-r.done
	r.logf.Close()
}

// FreePort returns a 127.0.0.1 address no one listens on now.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

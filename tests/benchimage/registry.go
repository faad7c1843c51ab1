package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startRegistry starts Debian's docker-registry on a free 127.0.0.1 port
// with its storage in the bench's temp dir, and returns its address. It is
// stopped at cleanup, and dies with the bench (Pdeathsig) if the bench is
// killed outright.
func (b *bench) startRegistry() (string, error) {
	dir := filepath.Join(b.dir, "registry")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "storage"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "registry.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(b.registry, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", fmt.Errorf("starting %s: %w", b.registry, err)
	}
	b.onCleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("the registry on %s did not answer /v2/ within 10s (%v): %s", addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Small regular files are written by a pool of workers while the main
// goroutine reads the tar. On layers of many files the kernel's file
// creation, not decompression, is the bottleneck, and creations proceed in
// parallel. Whatever depends on a file being complete (a hard link to it,
// another entry of the same name or below it) or closes or removes
// directories first waits for the pool: wait is the barrier.

const (
	// poolMaxFile is the largest file buffered for a worker; bigger ones are
	// streamed in line, as buffering them would cost more than it saves.
	poolMaxFile = 1 << 20
	poolWorkers = 2
)

type fileJob struct {
	seq        int
	pfd        int
	base, name string
	hdr        *tar.Header
	data       []byte
}

type writerPool struct {
	jobs     chan *fileJob
	inflight sync.WaitGroup
	workers  sync.WaitGroup
	seq      int
	// pending is the names handed out since the last barrier (main goroutine only).
	pending map[string]bool

	mu    sync.Mutex
	err   error
	retry []*fileJob // found their name taken: written in line at the barrier
}

// entryError is an error already naming its entry.
type entryError struct {
	name string
	err  error
}

func (e *entryError) Error() string { return fmt.Sprintf("entry %q: %v", e.name, e.err) }
func (e *entryError) Unwrap() error { return e.err }

func (a *applier) startPool() {
	p := &writerPool{jobs: make(chan *fileJob, 64), pending: map[string]bool{}}
	for i := 0; i < poolWorkers; i++ {
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			for j := range p.jobs {
				a.runJob(j)
			}
		}()
	}
	a.pool = p
}

func (a *applier) runJob(j *fileJob) {
	p := a.pool
	defer p.inflight.Done()
	err := writeData(j.pfd, j.base, j.data)
	if err == nil {
		err = a.setMetadata(j.pfd, j.base, j.name, j.hdr)
	}
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if errors.Is(err, unix.EEXIST) {
		p.retry = append(p.retry, j)
	} else if p.err == nil {
		p.err = &entryError{j.hdr.Name, err}
	}
}

// dispatch hands a small regular file to the pool. It reports false when
// the entry is to be written in line instead.
func (a *applier) dispatch(pfd int, base, name string, hdr *tar.Header, r io.Reader) (bool, error) {
	p := a.pool
	if p == nil || hdr.Size > poolMaxFile || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA) { //nolint:staticcheck // TypeRegA: old writers
		return false, nil
	}
	data := make([]byte, hdr.Size)
	if _, err := io.ReadFull(r, data); err != nil {
		return true, fmt.Errorf("reading the entry's data: %w", err)
	}
	p.seq++
	p.pending[name] = true
	a.created[name] = true
	p.inflight.Add(1)
	p.jobs <- &fileJob{seq: p.seq, pfd: pfd, base: base, name: name, hdr: hdr, data: data}
	return true, nil
}

// busy reports whether name or one of its parents is still being written.
func (a *applier) busy(name string) bool {
	if a.pool == nil || len(a.pool.pending) == 0 {
		return false
	}
	for n := name; n != "." && n != "/"; n = path.Dir(n) {
		if a.pool.pending[n] {
			return true
		}
	}
	return false
}

// wait returns once every dispatched file is written, writing in tar order
// those that found their name taken, and reports the first failure.
func (a *applier) wait() error {
	p := a.pool
	if p == nil || len(p.pending) == 0 {
		return nil
	}
	p.inflight.Wait()
	clear(p.pending)
	p.mu.Lock()
	retry, err := p.retry, p.err
	p.retry = nil
	p.mu.Unlock()
	if err != nil {
		return err
	}
	slices.SortFunc(retry, func(x, y *fileJob) int { return x.seq - y.seq })
	for _, j := range retry {
		if err := a.place(j.pfd, j.base, j.name, j.hdr, bytes.NewReader(j.data)); err != nil {
			return &entryError{j.hdr.Name, err}
		}
	}
	return nil
}

// stopPool waits for the workers to finish and exit.
func (a *applier) stopPool() {
	if a.pool != nil {
		a.pool.inflight.Wait()
		close(a.pool.jobs)
		a.pool.workers.Wait()
		a.pool = nil
	}
}

// writeData creates a file holding data, failing with EEXIST if the name is taken.
func writeData(pfd int, base string, data []byte) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	err = writeAll(fd, data)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

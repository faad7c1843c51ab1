package bundle

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-runtime/strata/image"
)

// Progress shows a pull's layers as they stream. Live (a terminal) redraws a
// line per layer with its bytes and rate four times a second; otherwise it
// writes one line per layer when that layer is done, for logs. A nil
// *Progress shows nothing.
type Progress struct {
	W    io.Writer
	Live bool

	mu     sync.Mutex
	layers []*layerProgress
	drawn  int // lines of the last redraw, to move back over
	done   chan struct{}
	wg     sync.WaitGroup
}

type layerProgress struct {
	l     image.Layer
	read  atomic.Int64
	begun time.Time
	state string // "waiting", "fetching", or how it ended
}

func (p *Progress) start() {
	if p == nil || !p.Live {
		return
	}
	p.done = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				p.redraw()
				return
			case <-tick.C:
				p.redraw()
			}
		}
	}()
}

func (p *Progress) stop() {
	if p == nil || !p.Live {
		return
	}
	close(p.done)
	p.wg.Wait()
}

// entry finds (or adds) a layer's line.
func (p *Progress) entry(l image.Layer) *layerProgress {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.layers {
		if e.l.DiffID == l.DiffID {
			return e
		}
	}
	e := &layerProgress{l: l, state: "waiting"}
	p.layers = append(p.layers, e)
	return e
}

// track counts the bytes read from a layer's blob as it unpacks.
func (p *Progress) track(l image.Layer, rc io.ReadCloser) io.ReadCloser {
	if p == nil {
		return rc
	}
	e := p.entry(l)
	p.mu.Lock()
	e.begun, e.state = time.Now(), "fetching"
	p.mu.Unlock()
	return &trackedReader{ReadCloser: rc, n: &e.read}
}

// finish records how a layer ended; off a terminal, that is its line.
func (p *Progress) finish(l image.Layer, unpacked bool, err error) {
	if p == nil {
		return
	}
	e := p.entry(l)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		e.state = "failed"
	case unpacked:
		elapsed := time.Since(e.begun)
		e.state = fmt.Sprintf("done, %s in %.1fs (%s/s)", size(e.read.Load()), elapsed.Seconds(), size(rate(e.read.Load(), elapsed)))
	default:
		e.state = "already in the store"
	}
	if !p.Live {
		fmt.Fprintf(p.W, "layer %s: %s\n", e.l.Blob.Digest, e.state)
	}
}

func (p *Progress) redraw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first line
	}
	for _, e := range p.layers {
		line := e.state
		if line == "fetching" {
			n := e.read.Load()
			line = fmt.Sprintf("%s / %s  %s/s", size(n), size(e.l.Blob.Size), size(rate(n, time.Since(e.begun))))
		}
		fmt.Fprintf(&b, "\r\x1b[K%s  %s\n", short(e.l.Blob.Digest.String()), line)
	}
	p.drawn = len(p.layers)
	io.WriteString(p.W, b.String()) //nolint:errcheck // a lost progress line is harmless
}

type trackedReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *trackedReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.n.Add(int64(n))
	return n, err
}

func rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// short is a digest cut to what tells layers apart on one screen.
func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

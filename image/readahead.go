package image

import (
	"io"
)

// readahead runs a reader (decompression and hashing) on its own goroutine,
// a few chunks ahead of the consumer, so that on a multi-core host inflating
// a layer overlaps with writing its files, as `tar -xzf` overlaps gzip and tar.
type readahead struct {
	full  chan chunk
	free  chan []byte
	cur   []byte
	err   error
	done  chan struct{}
	quit  chan struct{}
	owned []byte
}

type chunk struct {
	buf []byte
	err error
}

const (
	readaheadChunk = 1 << 20
	readaheadDepth = 4
)

func newReadahead(src io.Reader) *readahead {
	r := &readahead{
		full: make(chan chunk, readaheadDepth),
		free: make(chan []byte, readaheadDepth+1),
		done: make(chan struct{}),
		quit: make(chan struct{}),
	}
	for i := 0; i < readaheadDepth+1; i++ {
		r.free <- make([]byte, readaheadChunk)
	}
	go r.fill(src)
	return r
}

func (r *readahead) fill(src io.Reader) {
	defer close(r.quit)
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.done:
			return
		}
		n, err := io.ReadFull(src, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case r.full <- chunk{buf: buf[:n], err: err}:
		case <-r.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *readahead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.owned != nil {
			r.free <- r.owned[:cap(r.owned)]
			r.owned = nil
		}
		c := <-r.full
		r.cur, r.owned, r.err = c.buf, c.buf, c.err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the filling goroutine and waits for it, so that the source can
// be closed safely afterwards.
func (r *readahead) Close() error {
	close(r.done)
	<-r.quit
	return nil
}

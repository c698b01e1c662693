package gitserve

import (
	"bytes"
	"io"
	"strconv"
)

// Bounds of what a push may send as push options: git itself has no
// limit, so the reader stops collecting past these.
const (
	maxPushOptions     = 100
	maxPushOptionBytes = 64 << 10
)

// advertisePushOptions makes receive-pack advertise the push-options capability
// (receive.advertisePushOptions), so that `git push -o` sends them.
var advertisePushOptions = gitConfig{"receive.advertisePushOptions", "true"}

// pushOptionReader passes a receive-pack request body through unchanged
// while reading the push options out of it: pkt-lines of commands (the
// first one carrying the capabilities after a NUL), a flush, then, when
// the client asked for push-options, one pkt-line per option and a flush;
// the pack follows and is not looked at.
type pushOptionReader struct {
	r       io.ReadCloser
	buf     []byte
	inOpts  bool
	done    bool
	enabled bool
	size    int
	options []string
}

func (p *pushOptionReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && !p.done {
		p.feed(b[:n])
	}
	return n, err
}

func (p *pushOptionReader) Close() error { return p.r.Close() }

func (p *pushOptionReader) feed(b []byte) {
	p.buf = append(p.buf, b...)
	for !p.done && len(p.buf) >= 4 {
		l, err := strconv.ParseUint(string(p.buf[:4]), 16, 16)
		if err != nil || (l > 0 && l < 4) {
			p.done = true
			break
		}
		if l == 0 { // flush-pkt ends a section
			p.buf = p.buf[4:]
			if p.inOpts || !p.enabled {
				p.done = true
			}
			p.inOpts = true
			continue
		}
		if len(p.buf) < int(l) {
			break
		}
		line := p.buf[4:l]
		p.buf = p.buf[l:]
		if p.inOpts {
			p.size += len(line)
			if len(p.options) >= maxPushOptions || p.size > maxPushOptionBytes {
				p.done = true
				break
			}
			p.options = append(p.options, string(bytes.TrimSuffix(line, []byte("\n"))))
			continue
		}
		if _, caps, ok := bytes.Cut(line, []byte{0}); ok {
			for _, c := range bytes.Fields(caps) {
				if string(c) == "push-options" {
					p.enabled = true
				}
			}
		}
	}
	if p.done {
		p.buf = nil
	}
}

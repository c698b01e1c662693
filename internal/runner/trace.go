package runner

import (
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/runnerproto"
)

const (
	defaultOutputLimit     = 4 << 20
	defaultTraceInterval   = 3 * time.Second
	defaultForceSend       = 30 * time.Second
	tracePatchLimit        = 1 << 20  // bytes per PATCH, like gitlab-runner
	traceEagerFlush        = 64 << 10 // unsent bytes that trigger an early PATCH
	finalTraceSendAttempts = 5
)

// traceBuffer is the job log as the runner keeps it: masked, limited, and
// kept whole so that any offset can be resent after a 416.
type traceBuffer struct {
	mu        sync.Mutex
	masker    *masker
	buf       []byte
	limit     int
	truncated bool
	notify    func(unsent int) // called outside the lock after a write
	sent      int              // mirrored by the sender for notify decisions
}

func newTraceBuffer(m *masker, limit int) *traceBuffer {
	if limit <= 0 {
		limit = defaultOutputLimit
	}
	return &traceBuffer{masker: m, limit: limit}
}

// Write implements io.Writer; it never fails, so a chatty job cannot break
// on its own log.
func (t *traceBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.appendLocked(t.masker.write(p, false))
	unsent := len(t.buf) - t.sent
	notify := t.notify
	t.mu.Unlock()
	if notify != nil && unsent >= traceEagerFlush {
		notify(unsent)
	}
	return len(p), nil
}

// finish releases bytes the masker held back; called once the job's
// processes are gone.
func (t *traceBuffer) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.appendLocked(t.masker.write(nil, true))
}

func (t *traceBuffer) appendLocked(p []byte) {
	if t.truncated || len(p) == 0 {
		return
	}
	if room := t.limit - len(t.buf); len(p) > room {
		t.buf = append(t.buf, p[:max(room, 0)]...)
		t.truncated = true
		t.buf = fmt.Appendf(t.buf, "\n%sJob's log exceeded limit of %d bytes.\nJob execution will continue but no more output will be collected.%s\n", ansiBoldRed, t.limit, ansiReset)
		return
	}
	t.buf = append(t.buf, p...)
}

// snapshot returns up to n bytes from offset and the current length.
func (t *traceBuffer) snapshot(offset, n int) ([]byte, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if offset >= len(t.buf) || offset < 0 {
		return nil, len(t.buf)
	}
	end := min(len(t.buf), offset+n)
	return append([]byte(nil), t.buf[offset:end]...), len(t.buf)
}

func (t *traceBuffer) setSent(n int) {
	t.mu.Lock()
	t.sent = n
	t.mu.Unlock()
}

// output returns the checksum and size the final PUT reports.
func (t *traceBuffer) output() runnerproto.TraceOutput {
	t.mu.Lock()
	defer t.mu.Unlock()
	return runnerproto.TraceOutput{Checksum: fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(t.buf)), Bytesize: len(t.buf)}
}

// traceSender streams a traceBuffer to PATCH /jobs/:id/trace and keeps the
// job alive with touches (docs/runner-protocol.md, "Trace" and "Acceptance
// and final update").
type traceSender struct {
	c         *client
	jobID     int64
	token     string
	buf       *traceBuffer
	log       *slog.Logger
	forceSend time.Duration

	onCancel func() // Job-Status: canceling
	onAbort  func() // canceled/failed/403

	mu         sync.Mutex
	sent       int
	interval   time.Duration
	lastUpdate time.Time
	notFound   bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newTraceSender(c *client, job *Job, buf *traceBuffer, log *slog.Logger, interval, forceSend time.Duration) *traceSender {
	s := &traceSender{
		c: c, jobID: job.ID, token: job.Token, buf: buf, log: log,
		forceSend: forceSend, interval: interval, lastUpdate: time.Now(),
		onCancel: func() {}, onAbort: func() {},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	buf.notify = func(int) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return s
}

func (s *traceSender) currentInterval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interval
}

// observe applies the server's answer: interval and cancel/abort signals.
func (s *traceSender) observe(r updateResult) {
	if r.interval > 0 {
		s.mu.Lock()
		s.interval = r.interval
		s.mu.Unlock()
	}
	switch r.state {
	case remoteCanceling:
		s.onCancel()
	case remoteAbort:
		s.onAbort()
	}
}

// run is the periodic loop; it returns when stopLoop is called.
func (s *traceSender) run(ctx context.Context) {
	defer close(s.done)
	timer := time.NewTimer(s.currentInterval())
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.kick:
		}
		s.incrementalUpdate(ctx)
		timer.Reset(s.currentInterval())
	}
}

func (s *traceSender) stopLoop() {
	close(s.stop)
	<-s.done
}

// incrementalUpdate sends pending bytes, then touches the job if nothing
// reached the server for an update interval. gitlab-runner touches a silent
// job only every forceSend (30 s), so a cancel of a job that prints nothing
// (a sleep) waits that long; asking every interval (the server's
// X-GitLab-Trace-Update-Interval, a few seconds) lets it land at once.
func (s *traceSender) incrementalUpdate(ctx context.Context) {
	if _, err := s.sendPatch(ctx); err != nil {
		s.log.Debug("trace patch failed", "job", s.jobID, "err", err)
	}
	s.mu.Lock()
	due := time.Since(s.lastUpdate) >= min(s.forceSend, s.interval)
	s.mu.Unlock()
	if due {
		s.touch(ctx)
	}
}

// touch sends PUT state=running with the current output, as a keep-alive.
func (s *traceSender) touch(ctx context.Context) {
	res, err := s.c.updateJob(ctx, s.jobID, s.token, runnerproto.JobUpdate{State: "running", Output: s.buf.output()})
	if err != nil {
		s.log.Debug("job touch failed", "job", s.jobID, "err", err)
		return
	}
	if res.status == http.StatusOK {
		s.mu.Lock()
		s.lastUpdate = time.Now()
		s.mu.Unlock()
	}
	s.observe(res)
}

// sendPatch sends one PATCH with up to tracePatchLimit unsent bytes. It
// reports whether everything buffered has reached the server.
func (s *traceSender) sendPatch(ctx context.Context) (bool, error) {
	s.mu.Lock()
	offset, notFound := s.sent, s.notFound
	s.mu.Unlock()
	if notFound {
		return true, nil
	}
	data, total := s.buf.snapshot(offset, tracePatchLimit)
	if len(data) == 0 {
		if offset > total {
			return false, fmt.Errorf("server claims %d trace bytes, runner has %d", offset, total)
		}
		return true, nil
	}
	res, err := s.c.patchTrace(ctx, s.jobID, s.token, offset, data)
	if err != nil {
		return false, err
	}
	s.observe(res)
	switch res.status {
	case http.StatusAccepted:
		s.mu.Lock()
		s.sent = offset + len(data)
		s.lastUpdate = time.Now()
		sent := s.sent
		s.mu.Unlock()
		s.buf.setSent(sent)
		return sent >= total, nil
	case http.StatusRequestedRangeNotSatisfiable:
		// The server is authoritative for the offset
		// (docs/runner-protocol.md, "Trace").
		newOffset := max(res.rangeEnd, 0)
		s.mu.Lock()
		s.sent = newOffset
		s.mu.Unlock()
		s.buf.setSent(newOffset)
		s.log.Debug("trace resync", "job", s.jobID, "from", offset, "to", newOffset)
		return false, fmt.Errorf("trace range mismatch: server has %d bytes, runner sent from %d", newOffset, offset)
	case http.StatusNotFound:
		s.mu.Lock()
		s.notFound = true
		s.mu.Unlock()
		return true, fmt.Errorf("trace patch: 404, giving up on the trace")
	case http.StatusForbidden:
		return false, fmt.Errorf("trace patch: 403 Forbidden")
	default:
		return false, fmt.Errorf("trace patch: unexpected status %d", res.status)
	}
}

// flushAll sends everything buffered, resyncing on 416 as needed. It gives
// up after a few consecutive failures so that the final-update retry loop
// can take over.
func (s *traceSender) flushAll(ctx context.Context, aborted func() bool) error {
	failures := 0
	for !aborted() {
		done, err := s.sendPatch(ctx)
		if err == nil && done {
			return nil
		}
		if err == nil {
			continue // more than one PATCH worth of data
		}
		failures++
		if failures >= finalTraceSendAttempts {
			return fmt.Errorf("flush trace: %w", err)
		}
		if !sleepCtx(ctx, min(s.currentInterval(), time.Second)) {
			return ctx.Err()
		}
	}
	return nil
}

// resetSent forgets what the server holds, for a 412 on the final PUT.
func (s *traceSender) resetSent() {
	s.mu.Lock()
	s.sent = 0
	s.mu.Unlock()
	s.buf.setSent(0)
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

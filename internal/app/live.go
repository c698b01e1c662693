package app

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/events"
	"github.com/gantryci/gantry/internal/store/postgres"
	"github.com/gantryci/gantry/internal/web"
)

// clusterChanges carries the changes open web pages follow between
// coordinators sharing one PostgreSQL database: each change committed here
// (a job's log grew, a job's or a pipeline's status changed) is announced
// with NOTIFY on postgres.ChangesChannel, and every announcement of another
// coordinator is published into this one's web.Hub, so that a page served
// by A sees within a second what a runner wrote through B.
//
// Payloads are ids only: "origin;project,pipeline,job;…", at most
// postgres.MaxPayload bytes. Changes are coalesced: while one NOTIFY is in
// flight the next batch gathers (a set, so a burst of PATCHes to one job is
// one entry). Delivery is best effort, like the hub's: a page re-reads what
// it shows on each signal, so a lost announcement only delays it until the
// next change of the same job or pipeline.
type clusterChanges struct {
	n      *postgres.Notifier
	hub    *web.Hub
	log    *slog.Logger
	origin string

	mu      sync.Mutex
	pending map[web.Change]struct{}
	kick    chan struct{}
	quit    chan struct{}
	wg      sync.WaitGroup
}

// fanOut connects the store's events and the hub across coordinators; a nil
// *clusterWakeups (SQLite) does nothing. origin names this coordinator, so
// that its own announcements, which come back to it, are skipped.
func (w *clusterWakeups) fanOut(bus *events.Bus, hub *web.Hub, origin string) {
	if w == nil {
		return
	}
	c := &clusterChanges{n: w.n, hub: hub, log: w.log, origin: strings.ReplaceAll(origin, ";", "_"),
		pending: map[web.Change]struct{}{}, kick: make(chan struct{}, 1), quit: w.quit}
	w.n.OnChanges(c.receive)
	bus.OnEvent(func(e events.Event) {
		c.mu.Lock()
		c.pending[web.Change{ProjectID: e.ProjectID, PipelineID: e.PipelineID, JobID: e.JobID}] = struct{}{}
		c.mu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
	})
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-c.kick:
				c.send()
			case <-c.quit:
				return
			}
		}
	}()
}

// send announces the pending changes, in as few payloads as fit.
func (c *clusterChanges) send() {
	c.mu.Lock()
	batch := c.pending
	c.pending = map[web.Change]struct{}{}
	c.mu.Unlock()
	for _, p := range encodeChanges(c.origin, batch) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.n.NotifyChanges(ctx, p)
		cancel()
		if err != nil {
			c.log.Warn("announce web changes", "err", err)
			return
		}
	}
}

// receive publishes another coordinator's changes into the hub.
func (c *clusterChanges) receive(payload string) {
	origin, changes, err := decodeChanges(payload)
	if err != nil {
		c.log.Warn("web changes from another coordinator", "err", err)
		return
	}
	if origin == c.origin {
		return
	}
	for _, ch := range changes {
		c.hub.Publish(ch)
	}
}

// encodeChanges writes a batch as payloads of at most postgres.MaxPayload
// bytes each.
func encodeChanges(origin string, batch map[web.Change]struct{}) []string {
	var out []string
	var b strings.Builder
	for ch := range batch {
		item := fmt.Sprintf(";%d,%d,%d", ch.ProjectID, ch.PipelineID, ch.JobID)
		if b.Len() > 0 && b.Len()+len(item) > postgres.MaxPayload {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString(origin)
		}
		b.WriteString(item)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// decodeChanges reads a payload of encodeChanges.
func decodeChanges(p string) (string, []web.Change, error) {
	parts := strings.Split(p, ";")
	var out []web.Change
	for _, it := range parts[1:] {
		f := strings.Split(it, ",")
		if len(f) != 3 {
			return "", nil, fmt.Errorf("bad change %q", it)
		}
		var ids [3]int64
		for i, s := range f {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return "", nil, fmt.Errorf("bad change %q: %w", it, err)
			}
			ids[i] = v
		}
		out = append(out, web.Change{ProjectID: ids[0], PipelineID: ids[1], JobID: ids[2]})
	}
	return parts[0], out, nil
}

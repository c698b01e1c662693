package web

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantryci/gantry/internal/ci"
)

// Live lists. A list page (projects, pipelines, jobs) wraps what changes
// in a region, `{{define "live"}}` of its template, marked with
// data-region="<the page's URL>&live=1". That URL, opened as an event
// stream, answers with the region rendered again after each change to the
// projects it lists (the hub's coalescing signal, the same store events
// that wake runners, from every coordinator), sent as a "region" event
// when it differs from the last one sent; the page swaps it in. It re-reads
// only on a change: idle pages cost no queries.

// regionDelay gathers a burst of changes (a pipeline's jobs moving
// together) into one re-render, well within the second a page has.
const regionDelay = 150 * time.Millisecond

// isLive reports whether a list page is asked for its live region stream.
func isLive(pg *page) bool { return pg.r.URL.Query().Get("live") != "" }

// liveURL is the region stream of the page at pg's URL.
func liveURL(pg *page) string {
	q := pg.r.URL.Query()
	q.Set("live", "1")
	return pg.r.URL.Path + "?" + q.Encode()
}

// regionEvent is one re-rendered region.
type regionEvent struct {
	HTML string `json:"html"`
}

// liveRegion streams the region of page template name: build returns the
// view (and a new filter of the changes that concern it, as the set of
// projects listed may change) each time something changed.
func (s *Server) liveRegion(pg *page, name string, build func() (any, func(Change) bool, error)) error {
	t, ok := s.pages[name]
	if !ok {
		return nil
	}
	// Log appends carry no pipeline: they never re-render a list.
	var match atomic.Pointer[func(Change) bool]
	var last string
	f, signal, tick, done, err := s.follow(pg, func(c Change) bool {
		m := match.Load()
		return m != nil && c.PipelineID != 0 && (*m)(c)
	})
	if err != nil {
		return err
	}
	defer done()
	for {
		v, m, err := build()
		if err != nil {
			return nil
		}
		match.Store(&m)
		var b strings.Builder
		lv := layoutView{User: pg.user, CSRF: pg.csrf, Data: v}
		if pv, ok := v.(interface{ project() (*ci.Project, string) }); ok {
			lv.Project, lv.Nav = pv.project()
		}
		if err := t.ExecuteTemplate(&b, "live", lv); err != nil {
			s.log.Error("render live region", "page", name, "err", err)
			return nil
		}
		if html := b.String(); html != last {
			last = html
			if err := sendEvent(pg, f, "region", regionEvent{HTML: html}); err != nil {
				return nil
			}
		}
		if !awaitChange(pg, f, signal, tick) {
			return nil
		}
		select {
		case <-time.After(regionDelay):
		case <-pg.ctx().Done():
			return nil
		}
		// Changes during the delay are in this re-render.
		select {
		case <-signal:
		default:
		}
	}
}

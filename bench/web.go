package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The web UI's figures: time to first byte of the job and pipeline pages
// on the seeded data sets, the latency from an acknowledged trace PATCH to
// the line's Server-Sent Event with many viewers, and the time to show the
// tail of a 100 MB log (the job page, then the tail request its script
// makes).

const benchPassword = "bench-password-1"

// webRow is one page's time to first byte at one data size.
type webRow struct {
	Jobs int64  `json:"jobs"`
	Page string `json:"page"`
	Path string `json:"path"`
	TTFB stats  `json:"ttfb"`
}

// liveResult is the PATCH → browser event latency.
type liveResult struct {
	Viewers    int     `json:"viewers"`
	IntervalMs int     `json:"interval_ms"`
	Seconds    float64 `json:"seconds"`
	Latency    stats   `json:"latency"`
	Missed     int     `json:"missed"`
	// CrossCoordinator is true when the viewers watch one coordinator and
	// the PATCHes go round robin to all of them.
	CrossCoordinator bool `json:"cross_coordinator"`
}

// tailResult is the time to show the tail of a large log.
type tailResult struct {
	LogBytes int64 `json:"log_bytes"`
	Page     stats `json:"page_ttfb"`
	Tail     stats `json:"tail_request"`
	Total    stats `json:"page_plus_tail"`
}

var csrfRE = regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`)

// webSession gives root a password and signs in on base; the client keeps
// the session cookie (valid on every coordinator: sessions are rows).
func webSession(ctx context.Context, a *api, base string, conns int) (*http.Client, error) {
	if _, err := a.call(ctx, "PUT", "/api/v4/users/1", url.Values{"password": {benchPassword}}, nil); err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	c := newClient(conns)
	c.Jar = jar
	c.Timeout = 0 // event streams stay open
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	st, _, b, err := fetch(ctx, c, "GET", base+"/users/sign_in", nil, nil)
	if err != nil || st != 200 {
		return nil, fmt.Errorf("sign-in form: %d %v", st, err)
	}
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		return nil, fmt.Errorf("no CSRF token on the sign-in form")
	}
	form := url.Values{"user[login]": {"root"}, "user[password]": {benchPassword}, "authenticity_token": {string(m[1])}}
	st, _, b, err = fetch(ctx, c, "POST", base+"/users/sign_in", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		[]byte(form.Encode()))
	if err != nil || st != http.StatusSeeOther {
		return nil, fmt.Errorf("sign in: %d %v %s", st, err, b)
	}
	return c, nil
}

// ttfb requests url n times, one at a time, timing the first response
// byte; the body is read whole (and must be a 200).
func ttfb(ctx context.Context, c *http.Client, u string, n int) (stats, time.Duration, error) {
	var lat, total latencies
	start := time.Now()
	for range n {
		var first time.Time
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GotFirstResponseByte: func() { first = time.Now() }}), "GET", u, nil)
		res, err := c.Do(req)
		if err != nil {
			return stats{}, 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return stats{}, 0, fmt.Errorf("GET %s: %d", u, res.StatusCode)
		}
		lat.add(first.Sub(t0))
		total.add(time.Since(t0))
	}
	s := total.stats(time.Since(start), 0)
	return lat.stats(time.Since(start), 0), time.Duration(s.P50ms * float64(time.Millisecond)), nil
}

// runWebReads measures the job and pipeline pages of the seeded project.
func runWebReads(ctx context.Context, cfg *config, g cluster, si *seedInfo) ([]webRow, error) {
	a := &api{lb: newBalancer(g.urls()...), token: cfg.RootToken, client: newClient(4)}
	c, err := webSession(ctx, a, g[0].URL, 4)
	if err != nil {
		return nil, err
	}
	pages := []struct{ name, path string }{
		{"job page", fmt.Sprintf("/root/big/-/jobs/%d", si.MidJobID)},
		{"pipeline page", fmt.Sprintf("/root/big/-/pipelines/%d", si.MidPipeline)},
		{"pipelines list", "/root/big/-/pipelines"},
		{"jobs list", "/root/big/-/jobs"},
	}
	var rows []webRow
	for _, p := range pages {
		if _, _, err := ttfb(ctx, c, g[0].URL+p.path, 3); err != nil { // warm
			return nil, err
		}
		st, _, err := ttfb(ctx, c, g[0].URL+p.path, 50)
		if err != nil {
			return nil, err
		}
		rows = append(rows, webRow{Jobs: si.Jobs, Page: p.name, Path: p.path, TTFB: st})
		logf("  %-16s TTFB p50 %6.1f ms p99 %6.1f ms", p.name, st.P50ms, st.P99ms)
	}
	return rows, nil
}

// liveLatency has viewers running jobs each watched by one event stream
// (on the first coordinator), PATCHes a marked line into each every
// interval (round robin over the coordinators), and times each line from
// the PATCH's 202 to its arrival on the stream.
func liveLatency(ctx context.Context, a *api, rs []*runnerClient, g cluster, projectID int64, viewers int, interval, dur time.Duration) (liveResult, error) {
	res := liveResult{Viewers: viewers, IntervalMs: int(interval / time.Millisecond), CrossCoordinator: len(g) > 1}
	js, owners, err := claimJobs(ctx, a, rs, projectID, viewers)
	if err != nil {
		return res, err
	}
	c, err := webSession(ctx, a, g[0].URL, viewers+8)
	if err != nil {
		return res, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	acked := map[string]time.Time{}   // marker → 202 time
	arrived := map[string]time.Time{} // marker → event time
	var ready sync.WaitGroup
	var readers sync.WaitGroup
	var failed int
	for _, j := range js {
		path, err := jobPagePath(ctx, a, j)
		if err != nil {
			return res, err
		}
		ready.Add(1)
		readers.Go(func() {
			req, _ := http.NewRequestWithContext(sctx, "GET", g[0].URL+path+"/log/stream?line=1", nil)
			r, err := c.Do(req)
			ready.Done()
			if err != nil || r.StatusCode != 200 {
				mu.Lock()
				failed++
				mu.Unlock()
				return
			}
			defer r.Body.Close()
			sc := bufio.NewScanner(r.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if !strings.HasPrefix(line, "data: ") {
					continue
				}
				now := time.Now()
				for _, m := range markRE.FindAllString(line, -1) {
					mu.Lock()
					if _, ok := arrived[m]; !ok {
						arrived[m] = now
					}
					mu.Unlock()
				}
			}
		})
	}
	ready.Wait()
	if failed > 0 {
		return res, fmt.Errorf("%d of %d log streams did not open", failed, len(js))
	}
	time.Sleep(500 * time.Millisecond) // streams open and subscribed
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i, j := range js {
		wg.Go(func() {
			r := owners[i]
			var off int64
			// Spread the jobs over the interval.
			time.Sleep(time.Duration(i) * interval / time.Duration(len(js)))
			for seq := 0; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
				t0 := time.Now()
				m := fmt.Sprintf("mark-%d-%d.", j.ID, seq)
				data := []byte("line " + m + "\n")
				if _, _, err := r.patch(ctx, j, off, data); err != nil {
					continue
				}
				mu.Lock()
				acked[m] = time.Now()
				mu.Unlock()
				off += int64(len(data))
				time.Sleep(interval - time.Since(t0)%interval)
			}
		})
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // the last lines arrive
	cancel()
	readers.Wait()
	res.Seconds = time.Since(start).Seconds()
	var lat latencies
	for m, t := range acked {
		at, ok := arrived[m]
		if !ok {
			res.Missed++
			continue
		}
		// An event may beat the PATCH's answer to the client: 0.
		lat.add(max(0, at.Sub(t)))
	}
	res.Latency = lat.stats(time.Since(start), res.Missed)
	for i, j := range js {
		_ = owners[i].update(ctx, j, "success")
	}
	return res, nil
}

// jobPagePath is the path of a claimed job's page, from the API's web_url:
// the job may be of another project than the bench's (a seeded one).
func jobPagePath(ctx context.Context, a *api, j *claimed) (string, error) {
	var info struct {
		WebURL string `json:"web_url"`
	}
	st, _, b, err := fetch(ctx, a.client, "GET", a.lb.next()+"/api/v4/job", map[string]string{"JOB-TOKEN": j.Token}, nil)
	if err != nil || st != 200 {
		return "", fmt.Errorf("job %d: %d %v", j.ID, st, err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return "", err
	}
	u, err := url.Parse(info.WebURL)
	if err != nil {
		return "", err
	}
	return u.Path, nil
}

var markRE = regexp.MustCompile(`mark-\d+-\d+\.`)

// tailLatency writes a log of size bytes into a running job, then times
// what a browser does to show its tail: the job page, then the tail
// request of its script.
func tailLatency(ctx context.Context, a *api, rs []*runnerClient, g cluster, projectID int64, size int64) (tailResult, error) {
	res := tailResult{LogBytes: size}
	js, owners, err := claimJobs(ctx, a, rs, projectID, 1)
	if err != nil {
		return res, err
	}
	j, r := js[0], owners[0]
	line := []byte(strings.Repeat("0123456789 abcdefghij \x1b[32mgreen\x1b[0m ", 3) + "\n")
	chunk := make([]byte, 0, 1<<20)
	for len(chunk)+len(line) <= cap(chunk) {
		chunk = append(chunk, line...)
	}
	var off int64
	for off < size {
		data := chunk[:min(int64(len(chunk)), size-off)]
		if _, _, err := r.patch(ctx, j, off, data); err != nil {
			return res, err
		}
		off += int64(len(data))
	}
	c, err := webSession(ctx, a, g[0].URL, 2)
	if err != nil {
		return res, err
	}
	path, err := jobPagePath(ctx, a, j)
	if err != nil {
		return res, err
	}
	page := g[0].URL + path
	var pl, tl, all latencies
	for range 5 {
		t0 := time.Now()
		ps, _, err := ttfb(ctx, c, page, 1)
		if err != nil {
			return res, err
		}
		t1 := time.Now()
		if _, _, err := ttfb(ctx, c, page+"/log?tail=1000", 1); err != nil {
			return res, err
		}
		pl.add(time.Duration(ps.P50ms * float64(time.Millisecond)))
		tl.add(time.Since(t1))
		all.add(time.Since(t0))
	}
	res.Page, res.Tail, res.Total = pl.stats(0, 0), tl.stats(0, 0), all.stats(0, 0)
	_ = r.update(ctx, j, "success")
	return res, nil
}

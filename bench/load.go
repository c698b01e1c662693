package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencies collects request durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// stats summarises a run.
type stats struct {
	N         int     `json:"n"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Maxms     float64 `json:"max_ms"`
}

func (l *latencies) stats(elapsed time.Duration, errors int) stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := slices.Clone(l.d)
	slices.Sort(d)
	s := stats{N: len(d), Errors: errors, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		s.PerSecond = float64(len(d)) / elapsed.Seconds()
	}
	if len(d) > 0 {
		s.P50ms = ms(pct(d, 0.50))
		s.P99ms = ms(pct(d, 0.99))
		s.Maxms = ms(d[len(d)-1])
	}
	return s
}

func pct(d []time.Duration, p float64) time.Duration {
	i := int(float64(len(d))*p+0.5) - 1
	return d[max(0, min(len(d)-1, i))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// balancer spreads requests over the coordinators' base URLs round robin,
// request by request, as a load balancer without stickiness would.
type balancer struct {
	urls []string
	n    atomic.Uint64
}

func newBalancer(urls ...string) *balancer { return &balancer{urls: urls} }

// next is the base URL for the next request.
func (b *balancer) next() string {
	if len(b.urls) == 1 {
		return b.urls[0]
	}
	return b.urls[(b.n.Add(1)-1)%uint64(len(b.urls))]
}

// newClient is an HTTP client for loopback load: keep-alive connections,
// one per worker, no compression (the ceiling serves identity bytes too).
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}, Timeout: 120 * time.Second}
}

// readLoad drives GET base+path with c workers until n requests are done or
// d has passed (whichever first), after warm requests that are not
// measured; each request goes to lb's next base URL. Every answer must be
// 200 with about wantLen body bytes (-1: any).
func readLoad(ctx context.Context, client *http.Client, lb *balancer, path, token string, c, n int, d time.Duration, warm int, wantLen int) (stats, error) {
	do := func() (time.Duration, error) {
		url := lb.next() + path
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return 0, err
		}
		if token != "" {
			req.Header.Set("PRIVATE-TOKEN", token)
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		nb, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		el := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		// Running jobs' durations change with the clock: allow a few percent.
		if d := int(nb) - wantLen; wantLen >= 0 && (d > wantLen/20 || -d > wantLen/20) {
			return 0, fmt.Errorf("GET %s: %d bytes, want %d", url, nb, wantLen)
		}
		return el, nil
	}
	var werr error
	for range warm {
		if _, err := do(); err != nil {
			werr = err
			break
		}
	}
	if werr != nil {
		return stats{}, werr
	}
	var lat latencies
	var next, errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
				el, err := do()
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lat.add(el)
			}
		})
	}
	wg.Wait()
	st := lat.stats(time.Since(start), int(errs.Load()))
	if e, ok := firstErr.Load().(error); ok && st.N == 0 {
		return st, e
	}
	return st, nil
}

// fetch does one request and returns status, headers and body.
func fetch(ctx context.Context, client *http.Client, method, url string, hdr map[string]string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

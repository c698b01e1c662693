package httpx

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Transfer says what a request's body bytes are, for the byte counters of
// logs and artifacts; a handler marks its request with it.
type Transfer uint8

// The kinds of transfer.
const (
	TransferNone Transfer = iota
	// TransferTraceIn: a runner's incremental log PATCH (bytes in).
	TransferTraceIn
	// TransferTraceOut: a job log read by the API or the UI (bytes out).
	TransferTraceOut
	// TransferArtifactIn: an artifact upload (bytes in).
	TransferArtifactIn
	// TransferArtifactOut: an artifact download (bytes out).
	TransferArtifactOut
)

// RequestInfo is what handlers learn about a request that the request log
// and the metrics report: who called and which job it concerns. Handlers
// fill it through the nil-safe setters; Observe creates it.
type RequestInfo struct {
	// ID is the request (correlation) id, also the X-Request-Id answer.
	ID       string
	UserID   int64
	RunnerID int64
	JobID    int64
	// Route names requests no ServeMux pattern matched (git smart HTTP).
	Route    string
	Transfer Transfer
}

// SetUser records the authenticated user.
func (i *RequestInfo) SetUser(id int64) {
	if i != nil {
		i.UserID = id
	}
}

// SetRunner records the authenticated runner.
func (i *RequestInfo) SetRunner(id int64) {
	if i != nil {
		i.RunnerID = id
	}
}

// SetJob records the job the request concerns.
func (i *RequestInfo) SetJob(id int64) {
	if i != nil {
		i.JobID = id
	}
}

// SetRoute names the route of a request no ServeMux pattern matched.
func (i *RequestInfo) SetRoute(route string) {
	if i != nil {
		i.Route = route
	}
}

// SetTransfer marks what the request's body bytes are.
func (i *RequestInfo) SetTransfer(t Transfer) {
	if i != nil {
		i.Transfer = t
	}
}

type infoKey struct{}

// Info is the request's RequestInfo, or nil outside Observe (its setters
// then do nothing).
func Info(ctx context.Context) *RequestInfo {
	i, _ := ctx.Value(infoKey{}).(*RequestInfo)
	return i
}

// RequestObserver records a finished request (the metrics). method and
// route are ServeMux pattern parts, never the raw path; in and out are the
// body bytes read and written.
type RequestObserver interface {
	ObserveRequest(method, route string, status int, d time.Duration, in, out int64, info *RequestInfo)
}

// RequestIDHeader carries the request id both ways, as GitLab's Labkit
// correlation middleware does (gitlab-org/labkit correlation/http).
const RequestIDHeader = "X-Request-Id"

// Observe wraps h with the request log and the request metrics: it gives
// each request an id (an incoming well-formed X-Request-Id is kept), answers
// it in X-Request-Id, and once h returns logs one line and tells o. The
// line names the route pattern, never the URL: query strings carry tokens
// (private_token, job_token, token).
func Observe(h http.Handler, o RequestObserver, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{w: w, status: http.StatusOK}
		st.info.ID = requestID(r.Header.Get(RequestIDHeader))
		w.Header().Set(RequestIDHeader, st.info.ID)
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, &st.info))
		if r.Body != nil && r.Body != http.NoBody {
			st.body = countingBody{rc: r.Body, n: &st.in}
			r.Body = &st.body
		}
		defer func() {
			// A panic that reached here (http.ErrAbortHandler) still counts.
			d := time.Since(start)
			method, route := splitPattern(r.Pattern)
			if route == "" {
				route = st.info.Route
			}
			if route == "" {
				route = "unmatched"
			}
			if method == "" {
				method = r.Method
			}
			if o != nil {
				o.ObserveRequest(method, route, st.status, d, st.in, st.out, &st.info)
			}
			if log != nil {
				logRequest(r.Context(), log, method, route, st, d)
			}
		}()
		h.ServeHTTP(st, r)
	})
}

// logRequest writes the request log line. Health checks and the runners'
// long polls are at debug level: they are the bulk of requests and say
// nothing unless something is wrong.
func logRequest(ctx context.Context, log *slog.Logger, method, route string, st *reqState, d time.Duration) {
	level := slog.LevelInfo
	switch {
	case st.status >= 500:
		level = slog.LevelError
	case strings.HasPrefix(route, "/-/"), route == "/api/v4/jobs/request" && st.status == http.StatusNoContent:
		level = slog.LevelDebug
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("request_id", st.info.ID), slog.String("method", method),
		slog.String("route", route), slog.Int("status", st.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000))
	if st.info.UserID != 0 {
		attrs = append(attrs, slog.Int64("user_id", st.info.UserID))
	}
	if st.info.RunnerID != 0 {
		attrs = append(attrs, slog.Int64("runner_id", st.info.RunnerID))
	}
	if st.info.JobID != 0 {
		attrs = append(attrs, slog.Int64("job_id", st.info.JobID))
	}
	if st.in > 0 {
		attrs = append(attrs, slog.Int64("bytes_in", st.in))
	}
	attrs = append(attrs, slog.Int64("bytes_out", st.out))
	log.LogAttrs(ctx, level, "request", attrs...)
}

// splitPattern splits a ServeMux pattern ("GET /api/v4/jobs/{id}") into its
// method and path without allocating.
func splitPattern(p string) (method, route string) {
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// requestID keeps an incoming id as Rails' ActionDispatch::RequestId does
// (GitLab's correlation id, lib/gitlab/middleware/correlation_id.rb): only
// word characters, '-' and '@', at most 255 of them; else (or when nothing
// is left) it makes a ULID-shaped one, 48 bits of milliseconds and 80
// random bits in Crockford base32, as Labkit's correlation ids are.
func requestID(in string) string {
	if in != "" {
		if id := sanitizeID(in); id != "" {
			return id
		}
	}
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [26]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = alphabet[ms&31]
		ms >>= 5
	}
	r1, r2 := rand.Uint64(), rand.Uint64()
	for i := 10; i < 26; i++ {
		if i < 22 {
			b[i] = alphabet[r1&31]
			r1 >>= 5
		} else {
			b[i] = alphabet[r2&31]
			r2 >>= 5
		}
	}
	return string(b[:])
}

// sanitizeID drops the characters Rails drops (/[^\w\-@]/) and keeps 255;
// a well-formed id comes back without a copy.
func sanitizeID(s string) string {
	ok := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '@'
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			clean = false
			break
		}
	}
	if !clean {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if ok(s[i]) {
				b = append(b, s[i])
			}
		}
		s = string(b)
	}
	if len(s) > 255 {
		s = s[:255]
	}
	return s
}

// reqState is one request's bookkeeping, allocated once: the response
// writer that counts, the request body that counts and the RequestInfo.
type reqState struct {
	w       http.ResponseWriter
	status  int
	written bool
	in, out int64
	body    countingBody
	info    RequestInfo
}

func (s *reqState) Header() http.Header { return s.w.Header() }

func (s *reqState) WriteHeader(code int) {
	if !s.written && code >= 200 {
		s.status, s.written = code, true
	}
	s.w.WriteHeader(code)
}

func (s *reqState) Write(p []byte) (int, error) {
	s.written = true
	n, err := s.w.Write(p)
	s.out += int64(n)
	return n, err
}

// ReadFrom keeps the server's sendfile path for file downloads.
func (s *reqState) ReadFrom(r io.Reader) (int64, error) {
	s.written = true
	var n int64
	var err error
	if rf, ok := s.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{s.w}, r)
	}
	s.out += n
	return n, err
}

// Flush keeps streaming answers (server-sent events) streaming.
func (s *reqState) Flush() {
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *reqState) Unwrap() http.ResponseWriter { return s.w }

type writerOnly struct{ io.Writer }

// countingBody counts the request body bytes a handler reads.
type countingBody struct {
	rc io.ReadCloser
	n  *int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	*b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

package httpx

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 300)
	for _, c := range []struct{ in, want string }{
		{"abc-123", "abc-123"},
		{"01HZX_y@z", "01HZX_y@z"},
		{"a b\nc\"d", "abcd"},
		{long, long[:255]},
	} {
		if got := requestID(c.in); got != c.want {
			t.Errorf("requestID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, in := range []string{"", "\n\" {}"} {
		if got := requestID(in); len(got) != 26 || strings.Trim(got, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
			t.Errorf("requestID(%q) = %q, want a new ULID-shaped id", in, got)
		}
	}
}

type recordObserver struct {
	method, route string
	status        int
	in, out       int64
	info          RequestInfo
}

func (o *recordObserver) ObserveRequest(method, route string, status int, _ time.Duration, in, out int64, info *RequestInfo) {
	o.method, o.route, o.status, o.in, o.out, o.info = method, route, status, in, out, *info
}

// TestObserve checks the request log line and the observer: the route is
// the pattern, the query string (with its token) appears nowhere.
func TestObserve(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		info := Info(r.Context())
		info.SetUser(7)
		info.SetJob(42)
		info.SetTransfer(TransferTraceIn)
		_, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "ok")
	})
	var logs bytes.Buffer
	o := &recordObserver{}
	h := Observe(mux, o, slog.New(slog.NewJSONHandler(&logs, nil)))
	req := httptest.NewRequest("PUT", "/things/5?private_token=glpat-secret", strings.NewReader("12345"))
	req.Header.Set(RequestIDHeader, "req-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if rec.Header().Get(RequestIDHeader) != "req-1" {
		t.Errorf("X-Request-Id = %q", rec.Header().Get(RequestIDHeader))
	}
	if o.method != "PUT" || o.route != "/things/{id}" || o.status != 202 || o.in != 5 || o.out != 2 ||
		o.info.UserID != 7 || o.info.JobID != 42 || o.info.Transfer != TransferTraceIn {
		t.Errorf("observed %+v", o)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.Bytes(), err)
	}
	for k, want := range map[string]any{"msg": "request", "request_id": "req-1", "method": "PUT", "route": "/things/{id}",
		"status": float64(202), "user_id": float64(7), "job_id": float64(42), "bytes_in": float64(5), "bytes_out": float64(2)} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %v", k, line[k], want)
		}
	}
	if strings.Contains(logs.String(), "secret") || strings.Contains(logs.String(), "/things/5") {
		t.Errorf("the log holds the raw URL: %s", logs.Bytes())
	}

	// No pattern: "unmatched", or the route a dispatcher named.
	logs.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere?token=x", nil))
	if o.route != "unmatched" || o.status != 404 {
		t.Errorf("unmatched request observed as %q %d", o.route, o.status)
	}
}

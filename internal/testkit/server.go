package testkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Server is a loopback HTTP server, closed when the test ends, whose
// handler is set once it runs: the engine and the APIs need its URL before
// they can be built. It answers 503 until a handler is set.
type Server struct {
	*httptest.Server
	h atomic.Pointer[http.Handler]
}

// NewServer starts a Server.
func NewServer(t testing.TB) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := s.h.Load()
		if h == nil {
			http.Error(w, "testkit: no handler yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// SetHandler makes h serve the following requests; tests may wrap the
// current Handler to watch or alter traffic.
func (s *Server) SetHandler(h http.Handler) { s.h.Store(&h) }

// Handler is the handler serving requests (nil before SetHandler).
func (s *Server) Handler() http.Handler {
	if h := s.h.Load(); h != nil {
		return *h
	}
	return nil
}

// Do sends req with the server's client and returns the response with its
// body read (and closed), failing t when the request cannot be made.
func (s *Server) Do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp, b
}

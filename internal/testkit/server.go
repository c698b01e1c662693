package testkit

import (
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

package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/pipeline"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("GitLab OK"))
}

func (s *Server) liveness(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness answers 200 when the store answers.
func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "failed",
			"master_check": []map[string]string{{"status": "failed", "message": "database unavailable"}}})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "master_check": []map[string]string{{"status": "ok"}}})
}

func (s *Server) version(q *req) error {
	return q.json(http.StatusOK, map[string]any{"version": pipeline.Version, "revision": pipeline.Revision})
}

func (s *Server) metadata(q *req) error {
	return q.json(http.StatusOK, map[string]any{
		"version":    pipeline.Version,
		"revision":   pipeline.Revision,
		"kas":        map[string]any{"enabled": false, "externalUrl": nil, "externalK8sProxyUrl": nil, "version": nil},
		"enterprise": false,
	})
}

// trackEvent is POST /usage_data/track_event: GitLab's
// internal-events endpoint (lib/api/usage_data.rb), which glab calls after
// every command. Gantry collects no usage data; it validates the request as
// GitLab does and answers 200 so clients do not report a failure.
func (s *Server) trackEvent(q *req) error {
	if q.p.Str("event") == "" {
		return ci.Invalid("event is missing")
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// trackEvents is POST /usage_data/track_events, the batch form of
// trackEvent (client-go's UsageData.TrackEvents).
func (s *Server) trackEvents(q *req) error {
	q.w.WriteHeader(http.StatusOK)
	return nil
}

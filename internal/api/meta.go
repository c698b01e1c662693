package api

import (
	"context"
	"net/http"
	"time"

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

package web

import (
	"context"

	"github.com/gantryci/gantry/internal/ci"
)

// pendingReason explains why pending job j waits, as the API does.
func (s *Server) pendingReason(ctx context.Context, j *ci.Job) (*ci.PendingReason, error) {
	return s.eng.PendingReason(ctx, j)
}

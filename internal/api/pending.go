package api

import (
	"net/http"

	"github.com/gantryci/gantry/internal/ci"
)

// PendingReason is the answer of the pending_reason endpoint (a Gantry
// extension: GitLab only lists the possible causes on the job page).
type PendingReason struct {
	JobID  int64     `json:"job_id"`
	Status ci.Status `json:"status"`
	*ci.PendingReason
}

// pendingReason is GET /projects/:id/jobs/:job_id/pending_reason: why a
// pending job waits, decided (docs/web-ui.md). A job that is not pending
// answers with its status and a null reason.
func (s *Server) pendingReason(q *req) error {
	_, _, j, err := s.jobInProject(q, false)
	if err != nil {
		return err
	}
	out := PendingReason{JobID: j.ID, Status: j.Status}
	if j.Status == ci.StatusPending {
		if out.PendingReason, err = s.eng.PendingReason(q.ctx(), j); err != nil {
			return err
		}
	} else {
		out.PendingReason = &ci.PendingReason{Message: "The job is not pending."}
	}
	return q.json(http.StatusOK, out)
}

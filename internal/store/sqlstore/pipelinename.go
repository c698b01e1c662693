package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/store"
)

// SetPipelineName sets a pipeline's name (Ci::Pipelines::UpdateMetadataService).
func (db *DB) SetPipelineName(ctx context.Context, pipelineID int64, name string, at time.Time) error {
	res, err := db.exec(ctx, db.w, `UPDATE pipelines SET name = ?, updated_at = ? WHERE id = ?`, name, tv(at), pipelineID)
	if err != nil {
		return fmt.Errorf("set pipeline %d name: %w", pipelineID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

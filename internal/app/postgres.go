package app

import (
	"context"
	"errors"

	"github.com/gantryci/gantry/internal/store/sqlstore"
)

// openPostgres opens a PostgreSQL store. It is wired once the postgres
// package lands; until then such a URL is refused clearly.
func openPostgres(ctx context.Context, cfg Config) (*sqlstore.DB, func(), error) {
	return nil, nil, errors.New("postgres store: not available in this build")
}

// pendingNotifier connects cross-coordinator wake-ups when the store has them.
func pendingNotifier(db *sqlstore.DB) (func(), bool) { return nil, false }

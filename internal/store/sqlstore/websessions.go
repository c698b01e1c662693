package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/store"
)

// SetUserPassword stores a user's password hash ("" removes the password).
func (db *DB) SetUserPassword(ctx context.Context, userID int64, hash string) error {
	res, err := db.exec(ctx, db.w, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	if err != nil {
		return fmt.Errorf("set password %d: %w", userID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set password %d: %w", userID, store.ErrNotFound)
	}
	return nil
}

// UserPasswordHash is a user's password hash, "" when none is set.
func (db *DB) UserPasswordHash(ctx context.Context, userID int64) (string, error) {
	var h string
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT password_hash FROM users WHERE id = ?`), userID).Scan(&h); err != nil {
		return "", fmt.Errorf("password %d: %w", userID, db.wrap(err))
	}
	return h, nil
}

// CreateWebSession stores a browser session under the digest of its token.
func (db *DB) CreateWebSession(ctx context.Context, s *store.WebSession) error {
	id, err := db.insert(ctx, db.w, `INSERT INTO web_sessions (digest, user_id, csrf_token, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, s.Digest, s.UserID, s.CSRFToken, tv(s.CreatedAt), tv(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	s.ID = id
	return nil
}

// WebSessionByDigest finds an unexpired session.
func (db *DB) WebSessionByDigest(ctx context.Context, digest string, now time.Time) (*store.WebSession, error) {
	var s store.WebSession
	var created, expires int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, digest, user_id, csrf_token, created_at, expires_at
		FROM web_sessions WHERE digest = ? AND expires_at > ?`), digest, tv(now)).
		Scan(&s.ID, &s.Digest, &s.UserID, &s.CSRFToken, &created, &expires)
	if err != nil {
		return nil, fmt.Errorf("session: %w", db.wrap(err))
	}
	s.CreatedAt, s.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &s, nil
}

// DeleteWebSession ends a session (sign out), and drops expired ones.
func (db *DB) DeleteWebSession(ctx context.Context, digest string, now time.Time) error {
	if _, err := db.exec(ctx, db.w, `DELETE FROM web_sessions WHERE digest = ? OR expires_at <= ?`, digest, tv(now)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const userCols = `id, username, name, email, is_admin, state, created_at`

func scanUser(row rowScanner) (*ci.User, error) {
	var u ci.User
	var created int64
	if err := row.Scan(&u.ID, &u.Username, &u.Name, &u.Email, &u.Admin, &u.State, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
}

// CreateUser inserts a user and sets its id.
func (db *DB) CreateUser(ctx context.Context, u *ci.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	if u.State == "" {
		u.State = "active"
	}
	id, err := db.insert(ctx, db.w, `INSERT INTO users (username, username_lower, name, email, is_admin, state, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, u.Username, strings.ToLower(u.Username), u.Name, u.Email, u.Admin, u.State, tv(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Username, err)
	}
	u.ID = id
	return nil
}

// UserByID finds a user.
func (db *DB) UserByID(ctx context.Context, id int64) (*ci.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, db.q(`SELECT `+userCols+` FROM users WHERE id = ?`), id))
	if err != nil {
		return nil, fmt.Errorf("user %d: %w", id, db.wrap(err))
	}
	return u, nil
}

// UserByUsername finds a user, ignoring case.
func (db *DB) UserByUsername(ctx context.Context, username string) (*ci.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, db.q(`SELECT `+userCols+` FROM users WHERE username_lower = ?`), strings.ToLower(username)))
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", username, db.wrap(err))
	}
	return u, nil
}

// UsersByIDs loads several users at once.
func (db *DB) UsersByIDs(ctx context.Context, ids []int64) (map[int64]*ci.User, error) {
	return byIDs(ctx, db, "users", `SELECT `+userCols+` FROM users WHERE id IN `, ids, scanUser,
		func(u *ci.User) int64 { return u.ID })
}

// ListUsers lists users by id.
func (db *DB) ListUsers(ctx context.Context, f store.UserFilter) ([]*ci.User, error) {
	query := `SELECT ` + userCols + ` FROM users`
	var args []any
	if f.Username != "" {
		query += ` WHERE username_lower = ?`
		args = append(args, strings.ToLower(f.Username))
	}
	query += ` ORDER BY id` + limitOffset(f.Limit, f.Offset)
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*ci.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers counts users.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// CreateToken stores a personal access token's digest and metadata.
func (db *DB) CreateToken(ctx context.Context, t *ci.PersonalAccessToken, digest string) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	id, err := db.insert(ctx, db.w, `INSERT INTO personal_access_tokens (user_id, name, digest, scopes, expires_at, revoked, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.UserID, t.Name, digest, strings.Join(t.Scopes, " "), tp(t.ExpiresAt), t.Revoked, tv(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	t.ID = id
	return nil
}

// TokenByDigest finds a token by digest.
func (db *DB) TokenByDigest(ctx context.Context, digest string) (*ci.PersonalAccessToken, error) {
	var t ci.PersonalAccessToken
	var scopes string
	var expires, lastUsed sql.NullInt64
	var created int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, user_id, name, scopes, expires_at, revoked, created_at, last_used_at
		FROM personal_access_tokens WHERE digest = ?`), digest).
		Scan(&t.ID, &t.UserID, &t.Name, &scopes, &expires, &t.Revoked, &created, &lastUsed)
	if err != nil {
		return nil, fmt.Errorf("token: %w", db.wrap(err))
	}
	t.Scopes = strings.Fields(scopes)
	t.ExpiresAt = fromNull(expires)
	t.CreatedAt = fromMicros(created)
	t.LastUsedAt = fromNull(lastUsed)
	return &t, nil
}

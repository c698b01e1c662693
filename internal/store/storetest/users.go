package storetest

import (
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var userTests = []test{
	{"Ping", testPing},
	{"Users/CreateAndGet", testUserCreateAndGet},
	{"Users/Conflict", testUserConflict},
	{"Users/List", testUserList},
	{"Tokens", testTokens},
}

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(ctxOf(t)), "ping")
}

func testUserCreateAndGet(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	u := &ci.User{Username: "Alice", Name: "Alice A.", Email: "alice@example.com", Admin: true, CreatedAt: base}
	must(t, s.CreateUser(ctx, u), "create")
	if u.ID == 0 || u.State != "active" {
		t.Fatalf("after create: id %d state %q, want an id and state active", u.ID, u.State)
	}
	for _, lookup := range []struct {
		name string
		get  func() (*ci.User, error)
	}{
		{"by id", func() (*ci.User, error) { return s.UserByID(ctx, u.ID) }},
		{"by exact name", func() (*ci.User, error) { return s.UserByUsername(ctx, "Alice") }},
		{"by lower name", func() (*ci.User, error) { return s.UserByUsername(ctx, "alice") }},
		{"by upper name", func() (*ci.User, error) { return s.UserByUsername(ctx, "ALICE") }},
	} {
		got, err := lookup.get()
		must(t, err, lookup.name)
		if got.ID != u.ID || got.Username != "Alice" || got.Name != u.Name || got.Email != u.Email ||
			!got.Admin || got.State != "active" || !got.CreatedAt.Equal(base) {
			t.Errorf("%s: got %+v, want %+v", lookup.name, got, u)
		}
	}
	_, err := s.UserByID(ctx, u.ID+1000)
	wantErr(t, err, store.ErrNotFound, "missing id")
	_, err = s.UserByUsername(ctx, "bob")
	wantErr(t, err, store.ErrNotFound, "missing name")
}

func testUserConflict(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	mustUser(t, s, "Bob")
	for _, name := range []string{"Bob", "bob", "BOB"} {
		err := s.CreateUser(ctx, &ci.User{Username: name, Name: name})
		wantErr(t, err, store.ErrConflict, "duplicate "+name)
	}
	n, err := s.CountUsers(ctx)
	must(t, err, "count")
	if n != 1 {
		t.Errorf("count = %d after conflicts, want 1", n)
	}
}

func testUserList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a, b, c := mustUser(t, s, "a"), mustUser(t, s, "b"), mustUser(t, s, "Carol")
	n, err := s.CountUsers(ctx)
	must(t, err, "count")
	if n != 3 {
		t.Errorf("count = %d, want 3", n)
	}
	for _, tc := range []struct {
		name string
		f    store.UserFilter
		want []int64
	}{
		{"all", store.UserFilter{}, []int64{a.ID, b.ID, c.ID}},
		{"username any case", store.UserFilter{Username: "CAROL"}, []int64{c.ID}},
		{"unknown username", store.UserFilter{Username: "zed"}, nil},
		{"limit", store.UserFilter{Limit: 2}, []int64{a.ID, b.ID}},
		{"limit offset", store.UserFilter{Limit: 1, Offset: 1}, []int64{b.ID}},
		{"offset only", store.UserFilter{Offset: 2}, []int64{c.ID}},
	} {
		us, err := s.ListUsers(ctx, tc.f)
		must(t, err, tc.name)
		got := make([]int64, 0, len(us))
		for _, u := range us {
			got = append(got, u.ID)
		}
		if tc.want == nil {
			tc.want = []int64{}
		}
		sameIDs(t, tc.name, got, tc.want)
	}
	m, err := s.UsersByIDs(ctx, []int64{a.ID, c.ID, c.ID + 100})
	must(t, err, "by ids")
	if len(m) != 2 || m[a.ID].Username != "a" || m[c.ID].Username != "Carol" {
		t.Errorf("UsersByIDs = %v, want a and Carol", m)
	}
	m, err = s.UsersByIDs(ctx, nil)
	must(t, err, "by no ids")
	if m == nil || len(m) != 0 {
		t.Errorf("UsersByIDs(nil) = %#v, want an empty map", m)
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	u := mustUser(t, s, "tok")
	expires := base.Add(30 * 24 * time.Hour)
	tok := &ci.PersonalAccessToken{UserID: u.ID, Name: "ci", Scopes: []string{ci.ScopeAPI, ci.ScopeReadRepo},
		ExpiresAt: &expires, CreatedAt: base}
	must(t, s.CreateToken(ctx, tok, digest("one")), "create")
	never := &ci.PersonalAccessToken{UserID: u.ID, Name: "forever", Scopes: []string{ci.ScopeReadAPI}, Revoked: true}
	must(t, s.CreateToken(ctx, never, digest("two")), "create second")
	if tok.ID == 0 || never.ID == 0 || tok.ID == never.ID {
		t.Fatalf("token ids %d, %d", tok.ID, never.ID)
	}

	got, err := s.TokenByDigest(ctx, digest("one"))
	must(t, err, "by digest")
	if got.ID != tok.ID || got.UserID != u.ID || got.Name != "ci" || !got.HasScope(ci.ScopeAPI) ||
		!got.HasScope(ci.ScopeReadRepo) || got.HasScope(ci.ScopeWriteRepo) || got.Revoked ||
		!got.CreatedAt.Equal(base) || got.LastUsedAt != nil {
		t.Errorf("token = %+v, want %+v", got, tok)
	}
	sameTime(t, "expires_at", got.ExpiresAt, &expires)

	got, err = s.TokenByDigest(ctx, digest("two"))
	must(t, err, "second by digest")
	if got.ID != never.ID || !got.Revoked || got.ExpiresAt != nil || len(got.Scopes) != 1 {
		t.Errorf("token = %+v, want revoked, no expiry, one scope", got)
	}

	_, err = s.TokenByDigest(ctx, digest("unknown"))
	wantErr(t, err, store.ErrNotFound, "unknown digest")
	err = s.CreateToken(ctx, &ci.PersonalAccessToken{UserID: u.ID, Name: "dup"}, digest("one"))
	wantErr(t, err, store.ErrConflict, "duplicate digest")
}

package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gantryci/gantry/internal/testkit/pgtest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/storetest"
)

// testURL returns the server URL of the tests (pgtest.Require: skipped
// without one, failed under CI=true).
func testURL(t *testing.T) string {
	t.Helper()
	return pgtest.Require(t)
}

// adminDB is the tests' small pool on the server URL, for creating and
// dropping schemas.
func adminDB(t *testing.T) *sql.DB {
	t.Helper()
	return pgtest.Admin(t)
}

// freshSchema creates an empty schema, dropped when the test ends, and
// returns it with a URL whose search_path selects it.
func freshSchema(t *testing.T) (schema, dsn string) {
	t.Helper()
	db := adminDB(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = fmt.Sprintf("gantry_test_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema, withSearchPath(t, testURL(t), schema)
}

// withSearchPath adds search_path to a URL or key=value connection string.
func withSearchPath(t *testing.T, base, schema string) string {
	t.Helper()
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " search_path=" + schema
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", pgtest.EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openFresh opens a store on a fresh schema, closed when the test ends.
func openFresh(t *testing.T) store.Store {
	t.Helper()
	_, dsn := freshSchema(t)
	db, err := open(t.Context(), dsn, 8)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

// TestStore runs the shared storage suite, one fresh schema per subtest.
func TestStore(t *testing.T) {
	testURL(t)
	storetest.Run(t, openFresh)
}

// TestMigrateConcurrently starts several coordinators on one empty schema
// at once: all must open, and the migrations must be applied once.
func TestMigrateConcurrently(t *testing.T) {
	schema, dsn := freshSchema(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			db, err := open(t.Context(), dsn, 2)
			if err == nil {
				err = db.Ping(t.Context())
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("coordinator %d: %v", i, err)
		}
	}
	var applied int
	if err := adminDB(t).QueryRowContext(t.Context(), "SELECT count(*) FROM "+schema+".schema_migrations").Scan(&applied); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("schema_migrations has %d rows, want one per migration (%d)", applied, len(files))
	}
	// Reopening an up-to-date schema is a no-op.
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	db.Close()
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, url string
	}{
		{"unparsable", "postgres://%zz"},
		{"refused", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if db, err := Open(ctx, tc.url); err == nil {
				db.Close()
				t.Errorf("Open(%q) succeeded", tc.url)
			}
			if n, err := NewNotifier(ctx, tc.url); err == nil {
				n.Close()
				t.Errorf("NewNotifier(%q) succeeded", tc.url)
			}
		})
	}
}

func TestIsUnique(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"unique violation", &pgconn.PgError{Code: "23505"}, true},
		{"wrapped", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}), true},
		{"foreign key violation", &pgconn.PgError{Code: "23503"}, false},
		{"other error", errors.New("23505"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := isUnique(tc.err); got != tc.want {
				t.Errorf("isUnique(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestNotifier plays two coordinators sharing a database. It is not
// parallel: notifications are database-wide, and the other tests' stores
// would wake its subscribers.
func TestNotifier(t *testing.T) {
	base := testURL(t)
	ctx := t.Context()
	newNotifier := func() *Notifier {
		n, err := newNotifier(ctx, base, func(n *Notifier) { n.minBackoff = 10 * time.Millisecond })
		if err != nil {
			t.Fatalf("notifier: %v", err)
		}
		t.Cleanup(func() {
			if err := n.Close(); err != nil {
				t.Errorf("close notifier: %v", err)
			}
		})
		return n
	}
	n1, n2 := newNotifier(), newNotifier()
	s1, stop1 := n1.Subscribe()
	defer stop1()
	s2, stop2 := n2.Subscribe()
	defer stop2()
	s3, stop3 := n2.Subscribe()

	woken := func(name string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not woken", name)
		}
	}
	quiet := func(name string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("%s was woken", name)
		case <-time.After(200 * time.Millisecond):
		}
	}
	drain := func(chs ...<-chan struct{}) {
		for _, ch := range chs {
			select {
			case <-ch:
			default:
			}
		}
	}

	// A build made pending through a store wakes every coordinator.
	st := openFresh(t)
	p := &ci.Project{Namespace: "o", Path: "p", Name: "p", Visibility: ci.VisibilityPrivate}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	quiet("before any pending build", s1)
	job := &ci.Job{Name: "build", Stage: "test", Status: ci.StatusCreated, When: "on_success"}
	if err := st.CreatePipeline(ctx, &ci.Pipeline{ProjectID: p.ID, Ref: "main", SHA: "a", Source: "push",
		Status: ci.StatusCreated}, []*ci.Job{job}); err != nil {
		t.Fatal(err)
	}
	quiet("after a created build", s1)
	upd := *job
	upd.Status = ci.StatusPending
	if err := st.UpdateJob(ctx, &upd, ci.StatusCreated); err != nil {
		t.Fatal(err)
	}
	woken("coordinator 1", s1)
	woken("coordinator 2", s2)
	woken("coordinator 2, second subscriber", s3)

	// Unsubscribed channels are left alone; Notify wakes the rest.
	stop3()
	stop3() // idempotent
	if err := n1.Notify(ctx); err != nil {
		t.Fatal(err)
	}
	woken("coordinator 1 after Notify", s1)
	woken("coordinator 2 after Notify", s2)
	quiet("unsubscribed", s3)

	// Losing the listening session: the notifier reconnects, wakes its
	// subscribers (notifications may have been missed), and listens again.
	old := n1.pid.Load()
	if _, err := adminDB(t).ExecContext(ctx, "SELECT pg_terminate_backend($1)", int64(old)); err != nil {
		t.Fatalf("terminate listener: %v", err)
	}
	woken("coordinator 1 after reconnect", s1)
	if pid := n1.pid.Load(); pid == 0 || pid == old {
		t.Fatalf("listener pid %d after reconnect (was %d)", pid, old)
	}
	drain(s1, s2)
	if err := n2.Notify(ctx); err != nil {
		t.Fatal(err)
	}
	woken("coordinator 1 after reconnect and Notify", s1)
	woken("coordinator 2 after reconnect and Notify", s2)
}

// TestNotifierKeepalive checks that an idle listener pings its session and
// keeps delivering.
func TestNotifierKeepalive(t *testing.T) {
	base := testURL(t)
	n, err := newNotifier(t.Context(), base, func(n *Notifier) { n.keepalive = 50 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ch, stop := n.Subscribe()
	defer stop()
	pid := n.pid.Load()
	time.Sleep(300 * time.Millisecond)
	if got := n.pid.Load(); got != pid {
		t.Fatalf("listener reconnected while idle: pid %d -> %d", pid, got)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := notify(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken")
	}
}

package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSeedSmall seeds a tiny database through the storage layer and checks
// what the read phases rely on. No timing is asserted: the bench is run by
// hand (go run ./bench), never as a timed test.
func TestSeedSmall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "seed")
	si, err := seed(context.Background(), seedOpts{Jobs: 130, RootToken: "glpat-test-0000000000000", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if si.Jobs != 130 || si.Pipelines != 7 || si.LastJobID != 130 {
		t.Errorf("seeded %d jobs in %d pipelines, last id %d; want 130 in 7, last 130", si.Jobs, si.Pipelines, si.LastJobID)
	}
	if si.TraceJobID == 0 || si.LiveJobID == 0 || si.Artifacts == 0 {
		t.Errorf("missing logs or artifacts: %+v", si)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "traces", "1", strconv.FormatInt(si.TraceJobID, 10), "job.log")); err != nil {
		t.Errorf("1 MB log blob: %v", err)
	}
	if len(readScenarios(si)) == 0 {
		t.Error("no read scenarios")
	}
}

func TestStats(t *testing.T) {
	var l latencies
	for i := 1; i <= 100; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	s := l.stats(time.Second, 0)
	if s.N != 100 || s.P50ms != 50 || s.P99ms != 99 || s.Maxms != 100 || s.PerSecond != 100 {
		t.Errorf("stats = %+v", s)
	}
}

// TestReadLoadCeiling drives the load generator against an in-process
// server with canned answers, as the ceiling does.
func TestReadLoadCeiling(t *testing.T) {
	srv := httptest.NewServer(nil)
	defer srv.Close()
	srv.Config.Handler = newCeilingHandler([]ceilingEntry{{Path: "/x?a=1", ContentType: "application/json", Body: []byte(`[1,2,3]`)}})
	st, err := readLoad(context.Background(), newClient(2), newBalancer(srv.URL), "/x?a=1", "", 2, 50, 5*time.Second, 2, 7)
	if err != nil || st.N != 50 || st.Errors != 0 {
		t.Fatalf("readLoad = %+v, %v", st, err)
	}
	if _, err := readLoad(context.Background(), newClient(1), newBalancer(srv.URL), "/missing", "", 1, 1, time.Second, 1, -1); err == nil {
		t.Error("a 404 should fail the warm-up")
	}
}

func TestMarkdown(t *testing.T) {
	r := &results{Timestamp: "t", Reads: []readRow{
		{Jobs: 10000, Scenario: "list 100 jobs, first page", Gantry: stats{PerSecond: 100, P99ms: 10}, Ceiling: stats{PerSecond: 1000}, Ratio: 0.1},
		{Jobs: 1000000, Scenario: "list 100 jobs, first page", Gantry: stats{PerSecond: 90, P99ms: 12}, Ceiling: stats{PerSecond: 1000}, Ratio: 0.09},
	}, Pickup: &pickupResult{Runners: 50, PerSecond: 2500}}
	r.judge()
	md := r.markdown()
	for _, want := range []string{"| 1M | list 100 jobs, first page |", "pick-up, 50 runners | ≥ 2,000 jobs/s | 2500 jobs/s | ✅ met", "flat"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestSeedPostgres seeds a tiny data set into a fresh schema through
// postgres.Open and the sqlstore bulk methods. It runs only with
// GANTRY_TEST_DATABASE_URL (bash scripts/with-postgres.sh go test ./bench/).
func TestSeedPostgres(t *testing.T) {
	base := os.Getenv("GANTRY_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("GANTRY_TEST_DATABASE_URL not set")
	}
	ctx := context.Background()
	schema := "bench_test_seed"
	if err := resetSchema(ctx, base, schema); err != nil {
		t.Fatal(err)
	}
	dsn, err := schemaURL(base, schema)
	if err != nil {
		t.Fatal(err)
	}
	si, err := seed(ctx, seedOpts{Jobs: 130, RootToken: "glpat-test-0000000000000", Dir: filepath.Join(t.TempDir(), "seed"), Database: dsn})
	if err != nil {
		t.Fatal(err)
	}
	if si.Jobs != 130 || si.Pipelines != 7 || si.LastJobID != 130 || si.Database != "postgres" || si.DBBytes == 0 {
		t.Errorf("seeded %+v", si)
	}
	if !schemaSeeded(ctx, base, schema) {
		t.Error("schemaSeeded = false after seeding")
	}
	// A second bulk load into the same schema continues the ids and the
	// sequences (the server's own inserts come after the seeded rows).
	db, err := openPG(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var jobs, next int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), nextval(pg_get_serial_sequence('jobs', 'id')) FROM jobs`).Scan(&jobs, &next); err != nil {
		t.Fatal(err)
	}
	if jobs != 130 || next != 131 {
		t.Errorf("jobs %d, next id %d; want 130, 131", jobs, next)
	}
	if err := resetSchema(ctx, base, schema); err != nil {
		t.Error(err)
	}
}

func TestBalancer(t *testing.T) {
	lb := newBalancer("a", "b")
	var got []string
	for range 4 {
		got = append(got, lb.next())
	}
	if strings.Join(got, "") != "abab" {
		t.Errorf("round robin = %v", got)
	}
	if u, err := schemaURL("postgres://u:p@h:5432/db?sslmode=disable", "bench_10"); err != nil ||
		!strings.Contains(u, "search_path=bench_10") || !strings.Contains(u, "sslmode=disable") {
		t.Errorf("schemaURL = %q, %v", u, err)
	}
	if _, err := schemaURL("host=h dbname=db", "x"); err == nil {
		t.Error("schemaURL accepted a keyword DSN")
	}
}

func TestComparison(t *testing.T) {
	mk := func(db string, n int, rps float64) *results {
		return &results{Timestamp: "t", Database: db, Coordinators: n, Args: []string{"-database", "postgres://u:secret@h/db"},
			Reads:  []readRow{{Jobs: 10000, Scenario: "one job", Gantry: stats{PerSecond: rps, P99ms: 3}, Ratio: 0.1}},
			Pickup: &pickupResult{PerSecond: rps, CPUms: rps / 100}}
	}
	runs := []*results{mk("sqlite", 1, 100), mk("postgres 17.6", 2, 200)}
	md := comparison([]string{runLabel(runs[0]), runLabel(runs[1])}, runs)
	for _, want := range []string{"| jobs · request | SQLite, 1 coordinator | PostgreSQL 17.6, 2 coordinators |",
		"| 10k · one job | 100/s, 3.0 ms (10.0%) | 200/s, 3.0 ms (10.0%) |", "| job pick-up, 50 runners: jobs/s (errors), coordinator CPU per job | 100/s (0), 1.00 ms | 200/s (0), 2.00 ms |"} {
		if !strings.Contains(md, want) {
			t.Errorf("comparison lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "secret") {
		t.Errorf("password in comparison:\n%s", md)
	}
}

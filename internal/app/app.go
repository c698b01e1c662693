// Package app assembles a Gantry coordinator from its parts: the store, the
// CI engine, the HTTP API, the runner protocol, git hosting, background work
// and the optional embedded runner. cmd/gantry only turns flags into Config.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/api"
	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitserve"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/runner"
	"github.com/gantryci/gantry/internal/runnerapi"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/sqlstore"
)

// Config is a coordinator's configuration.
type Config struct {
	Listen      string
	DataDir     string
	ExternalURL string
	// DatabaseURL selects the store: empty for SQLite in DataDir, or a
	// postgres:// URL.
	DatabaseURL string
	// RootToken, when set, becomes a personal access token of root.
	RootToken string
	// RegistrationToken enables legacy runner registration.
	RegistrationToken string
	// EmbeddedRunners starts that many concurrent jobs in a built-in runner.
	EmbeddedRunners int
	LongPoll        time.Duration
	// SweepInterval is the background work period.
	SweepInterval time.Duration
	// StuckRunning fails running jobs whose runner went silent this long;
	// StuckPending fails pending jobs no runner took this long.
	StuckRunning, StuckPending time.Duration
	MaxTraceSize               int64
	MaxArtifact                int64
	Log                        *slog.Logger
	// Ready, when set, receives the bound address once serving.
	Ready chan<- string
}

// openStore opens the configured database, and for PostgreSQL the
// cross-coordinator wake-ups (nil for SQLite).
func openStore(ctx context.Context, cfg Config) (*sqlstore.DB, *clusterWakeups, error) {
	if strings.HasPrefix(cfg.DatabaseURL, "postgres://") || strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
		return openPostgres(ctx, cfg)
	}
	path := cfg.DatabaseURL
	path = strings.TrimPrefix(path, "sqlite://")
	if path == "" {
		path = filepath.Join(cfg.DataDir, "gantry.db")
	}
	db, err := sqlite.Open(ctx, path)
	return db, nil, err
}

// Run serves until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	cfg.DataDir = abs
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.ExternalURL == "" {
		cfg.ExternalURL = "http://" + ln.Addr().String()
	}
	cfg.ExternalURL = strings.TrimRight(cfg.ExternalURL, "/")
	db, wakeups, err := openStore(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer db.Close()
	defer wakeups.close()
	// owner names this coordinator in cluster-wide leases; unique even for
	// several coordinators in one process.
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())

	blobs := blob.FS{Root: filepath.Join(cfg.DataDir, "blobs")}
	eng := pipeline.New(db, blobs, pipeline.Config{ExternalURL: cfg.ExternalURL,
		ReposDir: filepath.Join(cfg.DataDir, "repositories"), MaxTraceSize: cfg.MaxTraceSize}, log)
	rapi := runnerapi.New(runnerapi.Config{Store: db, Engine: eng, Blobs: blobs, Log: log, ExternalURL: cfg.ExternalURL,
		RegistrationToken: cfg.RegistrationToken, LongPoll: cfg.LongPoll, MaxArtifactSize: cfg.MaxArtifact,
		MaxTraceSize: cfg.MaxTraceSize})
	db.OnJobPending(func(context.Context) { rapi.NotifyPending() })
	wakeups.connect(db, rapi.NotifyPending)

	if err := withLease(ctx, db, "bootstrap", owner, 30*time.Second, func() error { return bootstrap(ctx, db, cfg, log) }); err != nil {
		return err
	}
	// One access policy for the API, git and the runner protocol.
	pol := access.New(db, nil)
	eng.SetCodeAccess(codeAccess(db, pol))
	git := gitserve.New(gitserve.Config{Resolve: gitResolver(db, eng, pol), OnPush: onPush(db, eng, log), Logger: log})
	srv := api.New(api.Config{Store: db, Engine: eng, Blobs: blobs, ExternalURL: cfg.ExternalURL, Log: log,
		Extra: rapi.Routes(), Git: git, IsGitPath: gitserve.IsGitPath, Policy: pol})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go eng.Sweep(bg, pipeline.SweepConfig{Interval: cfg.SweepInterval, Owner: owner,
		RunningStale: cfg.StuckRunning, PendingStale: cfg.StuckPending})

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("gantry serving", "listen", ln.Addr().String(), "external_url", cfg.ExternalURL, "data_dir", cfg.DataDir)
	if cfg.Ready != nil {
		cfg.Ready <- ln.Addr().String()
	}

	runnerDone := make(chan struct{})
	if cfg.EmbeddedRunners > 0 {
		token, err := embeddedRunnerToken(ctx, db)
		if err != nil {
			return err
		}
		go func() {
			defer close(runnerDone)
			err := runner.Run(bg, runner.Config{URL: cfg.ExternalURL, Token: token, Concurrency: cfg.EmbeddedRunners,
				BuildsDir: filepath.Join(cfg.DataDir, "builds"), Name: "gantry-embedded", Logger: log,
				Environ: jobEnviron()})
			if err != nil && bg.Err() == nil {
				log.Error("embedded runner stopped", "err", err)
			}
		}()
	} else {
		close(runnerDone)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Stop the embedded runner first: it reports its jobs through the server.
	stopBG()
	select {
	case <-runnerDone:
	case <-shutdown.Done():
	}
	if err := hs.Shutdown(shutdown); err != nil {
		log.Warn("shutdown", "err", err)
	}
	return nil
}

// bootstrap creates root (id 1) and its token on an empty database.
func bootstrap(ctx context.Context, db store.Store, cfg Config, log *slog.Logger) error {
	n, err := db.CountUsers(ctx)
	if err != nil {
		return err
	}
	var root *ci.User
	if n == 0 {
		root = &ci.User{Username: "root", Name: "Administrator", Email: "admin@example.com", Admin: true}
		if err := db.CreateUser(ctx, root); err != nil {
			return fmt.Errorf("create root: %w", err)
		}
	} else if root, err = db.UserByID(ctx, 1); err != nil {
		return fmt.Errorf("root user: %w", err)
	}
	token := cfg.RootToken
	if token == "" {
		if n != 0 {
			return nil
		}
		token = auth.NewToken(auth.PrefixPAT, 20)
		fmt.Fprintf(os.Stderr, "\nroot personal access token (shown once): %s\n\n", token)
	}
	if _, err := db.TokenByDigest(ctx, auth.Digest(token)); err == nil {
		return nil
	}
	t := &ci.PersonalAccessToken{UserID: root.ID, Name: "bootstrap", Scopes: []string{ci.ScopeAPI}}
	if err := db.CreateToken(ctx, t, auth.Digest(token)); err != nil {
		return fmt.Errorf("root token: %w", err)
	}
	log.Info("root token ready", "user", root.Username)
	return nil
}

// embeddedRunnerToken finds or creates the embedded instance runner and
// gives it a fresh token for this process.
func embeddedRunnerToken(ctx context.Context, db store.Store) (string, error) {
	token := auth.NewToken(auth.PrefixRunner, 24)
	rs, err := db.ListRunners(ctx, store.RunnerFilter{Type: ci.RunnerInstance})
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.Description == "gantry-embedded" {
			return token, db.SetRunnerToken(ctx, r.ID, auth.Digest(token), token[:8])
		}
	}
	r := &ci.Runner{Description: "gantry-embedded", RunnerType: ci.RunnerInstance, RunUntagged: true, TokenPrefix: token[:8]}
	return token, db.CreateRunner(ctx, r, auth.Digest(token))
}

// jobEnviron is the embedded runner's job environment: the server's own,
// minus Gantry's settings, which hold secrets (tokens, database URLs).
func jobEnviron() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GANTRY_") {
			env = append(env, kv)
		}
	}
	return env
}

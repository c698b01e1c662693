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
	"github.com/gantryci/gantry/internal/events"
	"github.com/gantryci/gantry/internal/gitserve"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/metrics"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/runner"
	"github.com/gantryci/gantry/internal/runnerapi"
	"github.com/gantryci/gantry/internal/secrets"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/sqlstore"
	"github.com/gantryci/gantry/internal/web"
)

// Config is a coordinator's configuration.
type Config struct {
	Listen string
	// MetricsListen, when set, serves Prometheus /metrics on this address
	// (its own listener, never the API's); empty turns metrics off.
	MetricsListen string
	DataDir       string
	ExternalURL   string
	// DatabaseURL selects the store: empty for SQLite in DataDir, or a
	// postgres:// URL.
	DatabaseURL string
	// RootToken, when set, becomes a personal access token of root.
	RootToken string
	// RootPassword, when set, is root's password for the web UI; else a
	// new database prints a generated one once.
	RootPassword string
	// RegistrationToken enables legacy runner registration.
	RegistrationToken string
	// EmbeddedRunners starts that many concurrent jobs in a built-in runner.
	EmbeddedRunners int
	// RunnerIsolation is the embedded runner's job isolation (see
	// runner.IsolationNamespaces, the default, and runner.IsolationNone).
	RunnerIsolation string
	// RunnerJobUser is the host "UID[:GID]" of embedded jobs when running
	// as root (default 65534).
	RunnerJobUser string
	// BuildsDir is where the embedded runner checks out jobs; default a
	// fresh directory under os.TempDir(), never inside DataDir.
	BuildsDir string
	// SecretsFile holds the key that encrypts CI variable values; default
	// <DataDir>-secrets.key beside the data dir, created on first start.
	SecretsFile string
	LongPoll    time.Duration
	// SweepInterval is the background work period.
	SweepInterval time.Duration
	// StuckRunning fails running jobs whose runner went silent this long;
	// StuckPending fails pending jobs no runner took this long.
	StuckRunning, StuckPending time.Duration
	MaxTraceSize               int64
	MaxArtifact                int64
	// AllowLocalRequests lets include:remote reach this host and local
	// networks (GitLab's allow_local_requests_from_web_hooks_and_services).
	AllowLocalRequests bool
	Log                *slog.Logger
	// Ready, when set, receives the bound address once serving.
	Ready chan<- string
	// MetricsReady, when set, receives the metrics listener's address.
	MetricsReady chan<- string
	// Now, when set, is the clock of the engine, the API and the pipeline
	// scheduler (tests move it to make schedules due).
	Now func() time.Time
	// HoldPushPipelines records pushes but creates no pipelines from
	// them (no flag: crash tests stop a coordinator in between).
	HoldPushPipelines bool
}

// openStore opens the configured database, and for PostgreSQL the
// cross-coordinator wake-ups (nil for SQLite).
func openStore(ctx context.Context, cfg Config) (*sqlstore.DB, *clusterWakeups, error) {
	if strings.HasPrefix(cfg.DatabaseURL, "postgres://") || strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
		return openPostgres(ctx, cfg)
	}
	db, err := sqlite.Open(ctx, sqlitePath(cfg))
	return db, nil, err
}

// sqlitePath is the SQLite database file, or "" on PostgreSQL.
func sqlitePath(cfg Config) string {
	if strings.HasPrefix(cfg.DatabaseURL, "postgres://") || strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
		return ""
	}
	path := strings.TrimPrefix(cfg.DatabaseURL, "sqlite://")
	if path == "" {
		path = filepath.Join(cfg.DataDir, "gantry.db")
	}
	return path
}

// buildsDir returns the embedded runner's builds dir: dir if set, else a
// fresh one under os.TempDir() that cleanup removes. Never inside the data
// dir, which jobs must not reach.
func buildsDir(dir string) (string, func(), error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		return abs, func() {}, err
	}
	d, err := os.MkdirTemp("", "gantry-builds-")
	if err != nil {
		return "", nil, fmt.Errorf("builds dir: %w", err)
	}
	return d, func() { _ = os.RemoveAll(d) }, nil
}

// useSecrets loads the key that encrypts CI variable values (creating it on
// a database that holds no encrypted value yet), checks it against the
// database and encrypts values still stored in plaintext.
func useSecrets(ctx context.Context, db *sqlstore.DB, file string, log *slog.Logger) error {
	box, err := secrets.Load(file)
	if errors.Is(err, secrets.ErrNoKeyFile) {
		// Counting reads every job row; only a start without its key file
		// (the first, or a misconfigured one) needs to know.
		n, cerr := db.CountEncryptedVariables(ctx)
		if cerr != nil {
			return cerr
		}
		if n > 0 {
			return fmt.Errorf("secrets key file %s does not exist, but the database holds %d encrypted CI variable values: "+
				"restore the key file or point --secrets-file (GANTRY_SECRETS_FILE) at it", file, n)
		}
		box, err = secrets.Create(file)
		if err == nil {
			log.Info("created the secrets key file; keep it apart from database backups", "file", file)
		}
	}
	if err != nil {
		return err
	}
	db.UseSecrets(box)
	if err := db.CheckSecrets(ctx); err != nil {
		return fmt.Errorf("%w (secrets key file %s, --secrets-file)", err, file)
	}
	if k, err := db.EncryptPlainVariables(ctx); err != nil {
		return err
	} else if k > 0 {
		log.Info("encrypted CI variable values stored in plaintext", "count", k)
	}
	return nil
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
	// The data dir (database, repositories, artifacts) is the
	// coordinator's alone.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if cfg.SecretsFile == "" {
		cfg.SecretsFile = cfg.DataDir + "-secrets.key"
	}
	if cfg.EmbeddedRunners > 0 {
		// Refuse before serving: jobs must not run with the coordinator's
		// privileges unless the operator said so.
		if err := runner.CheckIsolation(cfg.RunnerIsolation, cfg.RunnerJobUser); err != nil {
			return fmt.Errorf("embedded runner: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var mln net.Listener
	if cfg.MetricsListen != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("metrics listen: %w", err)
		}
		defer mln.Close()
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
	// Metrics (when on) and the job lifecycle log observe the store from
	// its first write; the parked gauge reads the runner API built below.
	var rapi *runnerapi.API
	var met *metrics.Metrics
	if mln != nil {
		met = newMetrics(db, func() int64 { return rapi.Parked() })
	}
	db.SetHooks(storeHooks(met, log))
	if err := useSecrets(ctx, db, cfg.SecretsFile, log); err != nil {
		ln.Close()
		return err
	}
	// owner names this coordinator in cluster-wide leases; unique even for
	// several coordinators in one process.
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())

	blobs := blob.FS{Root: filepath.Join(cfg.DataDir, "blobs")}
	// Open web pages follow the store's one stream of committed changes
	// (internal/events): the hub only fans them out to SSE streams.
	hub := web.NewHub()
	db.Events().OnEvent(func(e events.Event) {
		hub.Publish(web.Change{ProjectID: e.ProjectID, PipelineID: e.PipelineID, JobID: e.JobID})
	})
	// With PostgreSQL, pages served here follow the changes written
	// through the other coordinators too (live.go).
	wakeups.fanOut(db.Events(), hub, owner)
	eng := pipeline.New(db, blobs, pipeline.Config{ExternalURL: cfg.ExternalURL,
		ReposDir: filepath.Join(cfg.DataDir, "repositories"), MaxTraceSize: cfg.MaxTraceSize,
		HoldPushPipelines: cfg.HoldPushPipelines, AllowLocalRequests: cfg.AllowLocalRequests}, log)
	if cfg.Now != nil {
		eng.Now = func() time.Time { return cfg.Now().UTC() }
	}
	var rapiObs runnerapi.Observer
	if met != nil {
		eng.SetObserver(met)
		rapiObs = met
	}
	// One access policy for the API, git, the runner protocol and the UI.
	pol := access.New(db, nil)
	rapi = runnerapi.New(runnerapi.Config{Store: db, Engine: eng, Blobs: blobs, Log: log, ExternalURL: cfg.ExternalURL,
		RegistrationToken: cfg.RegistrationToken, LongPoll: cfg.LongPoll, MaxArtifactSize: cfg.MaxArtifact,
		MaxTraceSize: cfg.MaxTraceSize, Policy: pol, Observer: rapiObs})
	db.OnJobPending(func(context.Context) { rapi.NotifyPending() })
	wakeups.connect(db, rapi.NotifyPending)

	if err := withLease(ctx, db, "bootstrap", owner, 30*time.Second, func() error { return bootstrap(ctx, db, cfg, log) }); err != nil {
		return err
	}
	eng.SetCodeAccess(codeAccess(db, pol))
	eng.SetScheduleAccess(scheduleAccess(pol))
	git := gitserve.New(gitserve.Config{Resolve: gitResolver(db, eng, pol), RecordPush: recordPush(db, eng, log),
		OnPush: onPush(eng, log), CheckPush: checkPush(db), Logger: log})
	srv := api.New(api.Config{Store: db, Engine: eng, Blobs: blobs, ExternalURL: cfg.ExternalURL, Log: log,
		Extra: rapi.Routes(), Git: git, IsGitPath: gitserve.IsGitPath, Policy: pol, Now: cfg.Now})
	ui, err := web.New(web.Config{Store: db, Engine: eng, Blobs: blobs, ExternalURL: cfg.ExternalURL, Log: log,
		Hub: hub, IsGitPath: gitserve.IsGitPath, Policy: pol})
	if err != nil {
		return err
	}
	// Every request gets an id, a log line and (metrics on) its series.
	hs := &http.Server{Handler: httpx.Observe(withUI(ui, srv), requestObserver(met), log), ReadHeaderTimeout: 30 * time.Second}
	if met != nil {
		ms := serveMetrics(mln, met, log)
		defer ms.Close()
		if cfg.MetricsReady != nil {
			cfg.MetricsReady <- mln.Addr().String()
		}
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	// Pushes a crash left without their pipelines get them now (the
	// sweeper picks up any later leftovers).
	go func() {
		if err := eng.CreatePushPipelines(bg, 0); err != nil && bg.Err() == nil {
			log.Warn("push pipelines on start", "err", err)
		}
	}()
	go eng.Sweep(bg, pipeline.SweepConfig{Interval: cfg.SweepInterval, Owner: owner,
		RunningStale: cfg.StuckRunning, PendingStale: cfg.StuckPending})
	// Pipeline schedules run on every coordinator at the sweep interval:
	// the store's claim makes one of them run each due schedule.
	go eng.RunSchedules(bg, cfg.SweepInterval)

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
		builds, cleanup, err := buildsDir(cfg.BuildsDir)
		if err != nil {
			return err
		}
		defer cleanup()
		hide := []string{cfg.DataDir, cfg.SecretsFile}
		if p := sqlitePath(cfg); p != "" {
			hide = append(hide, p)
		}
		go func() {
			defer close(runnerDone)
			err := runner.Run(bg, runner.Config{URL: cfg.ExternalURL, Token: token, Concurrency: cfg.EmbeddedRunners,
				BuildsDir: builds, Name: "gantry-embedded", Logger: log, Environ: jobEnviron(),
				Isolation: cfg.RunnerIsolation, JobUser: cfg.RunnerJobUser, HidePaths: hide})
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
	if err := rootPassword(ctx, db, root, cfg, n == 0); err != nil {
		return err
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

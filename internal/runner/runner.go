// Package runner is Gantry's built-in CI runner: a client of GitLab's runner
// HTTP protocol with a shell executor. It deliberately talks to its
// coordinator only over HTTP, exactly like gitlab-runner, so it works
// against Gantry and against a real GitLab alike; it must never import
// Gantry's storage or server packages.
package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/runnerproto"
)

// Config configures Run.
type Config struct {
	// URL is the server base URL, e.g. http://127.0.0.1:8080. A trailing
	// "/" and "/ci" are stripped like gitlab-runner does.
	URL string
	// Token is the runner authentication token (glrt-…).
	Token string
	// BuildsDir is where project directories are created.
	BuildsDir string
	// Concurrency is the number of jobs run at once (default 1).
	Concurrency int
	// Name is reported to the server in the runner info (default
	// "gantry-runner").
	Name string
	// Shell is the shell that runs job scripts: "bash" if present, else "sh".
	Shell string
	// PollInterval is the wait after a 204 or an error before polling again
	// (default 3s). A long-polling server holds requests itself.
	PollInterval time.Duration
	// Logger receives the runner's own diagnostics (default slog.Default()).
	Logger *slog.Logger
	// HTTPClient is used for every request (default: a client without an
	// overall timeout, since long polls and artifact uploads may be slow).
	HTTPClient *http.Client
	// Environ is the environment jobs start from (default os.Environ()). An
	// embedded runner passes the server's environment without its secrets.
	Environ []string

	// Knobs for tests; zero means the gitlab-runner default.
	traceInterval time.Duration // initial trace update interval (3s)
	forceSend     time.Duration // touch when silent this long (30s)
	outputLimit   int           // trace size limit in bytes (4 MiB)
	killGrace     time.Duration // SIGTERM → SIGKILL delay (3s)
	afterTimeout  time.Duration // after_script timeout (5m)
}

// Version and Revision identify the runner build in the info object and the
// trace header; they are filled from the Go build information.
var (
	Version, Revision = buildVersion()
)

func buildVersion() (string, string) {
	version, revision := "development version", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, revision
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		version = strings.TrimPrefix(v, "v")
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 8 {
			revision = s.Value[:8]
		}
	}
	return version, revision
}

// runner is the state shared by the poll loop and the jobs.
type runner struct {
	cfg        Config
	c          *client
	log        *slog.Logger
	shortToken string
	systemID   string
}

// newSystemID returns "s_" plus 12 random lowercase alphanumerics, the
// format gitlab-runner uses for a runner manager's system_id.
func newSystemID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "s_" + string(b)
}

// shortToken shortens a runner token the way gitlab-runner's ShortenToken
// does for directory names and CI_RUNNER_SHORT_TOKEN.
func shortToken(token string) string {
	t := strings.TrimPrefix(token, "glrt-")
	if len(t) > 3 && t[0] == 't' && t[1] >= '0' && t[1] <= '9' && t[2] == '_' {
		t = t[3:]
	}
	if len(t) > 9 {
		t = t[:9]
	}
	return t
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Token == "" {
		return cfg, errors.New("runner: token is required")
	}
	if cfg.BuildsDir == "" {
		return cfg, errors.New("runner: builds dir is required")
	}
	// CI_PROJECT_DIR and friends must be absolute for scripts that cd.
	abs, err := filepath.Abs(cfg.BuildsDir)
	if err != nil {
		return cfg, fmt.Errorf("runner: builds dir: %w", err)
	}
	cfg.BuildsDir = abs
	u, err := fixURL(cfg.URL)
	if err != nil {
		return cfg, fmt.Errorf("runner: %w", err)
	}
	cfg.URL = u
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.Name == "" {
		cfg.Name = "gantry-runner"
	}
	if cfg.Shell == "" {
		cfg.Shell = "sh"
		if _, err := exec.LookPath("bash"); err == nil {
			cfg.Shell = "bash"
		}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		// gitlab-runner's limits: 10 min for response headers (long polls
		// stay far below), 60 min for a whole request (big artifacts).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 10 * time.Minute
		cfg.HTTPClient = &http.Client{Transport: tr, Timeout: time.Hour}
	}
	if cfg.traceInterval <= 0 {
		cfg.traceInterval = defaultTraceInterval
	}
	if cfg.forceSend <= 0 {
		cfg.forceSend = defaultForceSend
	}
	if cfg.outputLimit <= 0 {
		cfg.outputLimit = defaultOutputLimit
	}
	if cfg.killGrace <= 0 {
		cfg.killGrace = 3 * time.Second
	}
	if cfg.afterTimeout <= 0 {
		cfg.afterTimeout = 5 * time.Minute
	}
	return cfg, nil
}

// Run polls cfg.URL for jobs and runs up to cfg.Concurrency of them at once
// until ctx is done. On ctx done it takes no new job, kills the scripts of
// running jobs, reports them failed and returns once they are reported. It
// returns nil after a clean shutdown and an error only for a bad Config.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	r := &runner{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "runner", "name", cfg.Name),
		shortToken: shortToken(cfg.Token),
		systemID:   newSystemID(),
	}
	r.c = &client{
		base:     cfg.URL + "/api/v4/",
		token:    cfg.Token,
		systemID: r.systemID,
		info: runnerproto.Info{
			Name: cfg.Name, Version: Version, Revision: Revision,
			Platform: runtime.GOOS, Architecture: runtime.GOARCH,
			Executor: "shell", Shell: cfg.Shell,
			Features: shellFeatures(),
			Config:   map[string]any{"gpus": ""},
		},
		http:      cfg.HTTPClient,
		userAgent: userAgent(Version, Revision),
	}
	r.log.Info("runner started", "url", cfg.URL, "concurrency", cfg.Concurrency, "system_id", r.systemID, "shell", cfg.Shell)

	// Each slot index is a concurrent id: it keeps project directories of
	// simultaneous jobs apart, like gitlab-runner's CI_CONCURRENT_ID.
	slots := make(chan int, cfg.Concurrency)
	for i := range cfg.Concurrency {
		slots <- i
	}
	var wg sync.WaitGroup
	defer wg.Wait()

	backoff := cfg.PollInterval
	for {
		var slot int
		select {
		case <-ctx.Done():
			r.log.Info("runner stopping", "reason", context.Cause(ctx))
			return nil
		case slot = <-slots:
		}
		job, res, err := r.c.requestJob(ctx)
		if ctx.Err() != nil {
			slots <- slot
			continue // the loop top returns
		}
		switch res {
		case pollJob:
			backoff = cfg.PollInterval
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { slots <- slot }()
				r.runJob(ctx, slot, job, err)
			}()
			continue // ask again at once, like gitlab-runner's run
		case pollNoJob:
			backoff = cfg.PollInterval
			slots <- slot
			sleepCtx(ctx, cfg.PollInterval)
		default:
			slots <- slot
			level := slog.LevelWarn
			if res == pollForbidden {
				level = slog.LevelError
			}
			r.log.Log(ctx, level, "checking for jobs failed", "err", err, "retry_in", backoff)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, max(time.Minute, cfg.PollInterval))
		}
	}
}

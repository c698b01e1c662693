// Command gantry is a GitLab-compatible CI coordinator in one binary.
//
//	gantry serve   [--listen ADDR] [--data-dir DIR] [--external-url URL] [--database URL] [--embedded-runner N]
//	gantry runner  --url URL --token TOKEN [--builds-dir DIR] [--concurrency N]
//	gantry version
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gantryci/gantry/internal/app"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/runner"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:], log)
	case "runner":
		err = runRunner(ctx, os.Args[2:], log)
	case "version", "--version":
		fmt.Printf("gantry (GitLab API %s)\n", pipeline.Version)
	case "help", "-h", "--help":
		usage()
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  gantry serve  [flags]   run the coordinator (API, git hosting, runner protocol)
  gantry runner [flags]   run a shell runner against a coordinator
  gantry version
Run "gantry serve -h" or "gantry runner -h" for flags.
`)
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(env("GANTRY_LOG_LEVEL", "info"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envDur(k string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func serve(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	var cfg app.Config
	fs.StringVar(&cfg.Listen, "listen", env("GANTRY_LISTEN", "127.0.0.1:8080"), "address to listen on (GANTRY_LISTEN)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("GANTRY_DATA_DIR", "./gantry-data"), "data directory (GANTRY_DATA_DIR)")
	fs.StringVar(&cfg.ExternalURL, "external-url", env("GANTRY_EXTERNAL_URL", ""), "public base URL; default http://<listen> (GANTRY_EXTERNAL_URL)")
	fs.StringVar(&cfg.DatabaseURL, "database", env("GANTRY_DATABASE_URL", ""), "postgres:// URL; default SQLite in the data dir (GANTRY_DATABASE_URL)")
	fs.IntVar(&cfg.EmbeddedRunners, "embedded-runner", envInt("GANTRY_EMBEDDED_RUNNER", 0), "run a built-in shell runner taking N jobs at once (GANTRY_EMBEDDED_RUNNER)")
	fs.DurationVar(&cfg.LongPoll, "long-poll", envDur("GANTRY_LONG_POLL", 50*time.Second), "how long jobs/request is held when there is no job")
	fs.DurationVar(&cfg.SweepInterval, "sweep-interval", envDur("GANTRY_SWEEP_INTERVAL", 5*time.Second), "background work period")
	fs.DurationVar(&cfg.StuckRunning, "stuck-running-timeout", envDur("GANTRY_STUCK_RUNNING_TIMEOUT", time.Hour), "fail running jobs whose runner is silent this long")
	fs.DurationVar(&cfg.StuckPending, "stuck-pending-timeout", envDur("GANTRY_STUCK_PENDING_TIMEOUT", 24*time.Hour), "fail pending jobs no runner takes this long")
	fs.Int64Var(&cfg.MaxTraceSize, "max-trace-size", int64(envInt("GANTRY_MAX_TRACE_SIZE", 100<<20)), "job log size limit in bytes")
	fs.Int64Var(&cfg.MaxArtifact, "max-artifact-size", int64(envInt("GANTRY_MAX_ARTIFACT_SIZE", 100<<20)), "artifact upload limit in bytes")
	_ = fs.Parse(args)
	cfg.RootToken = os.Getenv("GANTRY_ROOT_TOKEN")
	cfg.RootPassword = os.Getenv("GANTRY_ROOT_PASSWORD")
	cfg.RegistrationToken = os.Getenv("GANTRY_RUNNER_REGISTRATION_TOKEN")
	cfg.Log = log
	return app.Run(ctx, cfg)
}

func runRunner(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("runner", flag.ExitOnError)
	var cfg runner.Config
	fs.StringVar(&cfg.URL, "url", env("GANTRY_URL", "http://127.0.0.1:8080"), "coordinator URL")
	fs.StringVar(&cfg.Token, "token", env("GANTRY_RUNNER_TOKEN", ""), "runner authentication token (glrt-…)")
	fs.StringVar(&cfg.BuildsDir, "builds-dir", env("GANTRY_BUILDS_DIR", "./builds"), "where jobs are checked out")
	fs.IntVar(&cfg.Concurrency, "concurrency", envInt("GANTRY_CONCURRENCY", 1), "jobs at once")
	fs.StringVar(&cfg.Name, "name", "gantry-runner", "runner name")
	_ = fs.Parse(args)
	if cfg.Token == "" {
		return fmt.Errorf("--token is required")
	}
	cfg.Logger = log
	return runner.Run(ctx, cfg)
}

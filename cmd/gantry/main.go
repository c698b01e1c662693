// Command gantry is a GitLab-compatible CI coordinator in one binary.
//
//	gantry serve   [flags]   the coordinator: API, git hosting, runner protocol, optional built-in runner (jobs isolated)
//	gantry runner  [flags]   a built-in shell runner against a coordinator
//	gantry backup  [flags]   write a consistent backup of a (running) instance to one archive
//	gantry restore [flags]   restore such an archive onto an empty data dir
//	gantry version
//
// Every flag can also be given as an environment variable (GANTRY_ and the
// flag's name, see settings.go); "gantry CMD -h" lists them with defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
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
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "runner":
		err = runRunner(ctx, os.Args[2:])
	case "backup":
		err = backupCmd(ctx, os.Args[2:])
	case "restore":
		err = restoreCmd(ctx, os.Args[2:])
	case "version", "--version":
		fmt.Printf("gantry (GitLab API %s)\n", pipeline.Version)
	case "help", "-h", "--help":
		usage()
	default:
		usage()
		os.Exit(2)
	}
	if errors.Is(err, errHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  gantry serve   [flags]   run the coordinator (API, git hosting, runner protocol)
  gantry runner  [flags]   run a shell runner against a coordinator
  gantry backup  [flags]   back up a running instance to one archive
  gantry restore [flags]   restore a backup onto an empty data dir
  gantry version
Run "gantry CMD -h" for a command's flags and their environment variables.
`)
}

// serveFlags declares serve's settings.
func serveFlags() (*flag.FlagSet, *app.Config, *logSettings) {
	fs := newFlagSet("serve", "Runs the coordinator: the REST API, git hosting, the runner protocol and, with\n--embedded-runner, a built-in runner.")
	cfg, logs := &app.Config{}, &logSettings{}
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics on this separate address, e.g. 127.0.0.1:9229 (default off; unauthenticated, keep it on loopback)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./gantry-data", "data directory: SQLite file, repositories, artifacts, logs")
	fs.StringVar(&cfg.ExternalURL, "external-url", "", "public base URL used in links, clone URLs and CI_* (default http://<listen>)")
	fs.StringVar(&cfg.DatabaseURL, "database", "", "postgres:// URL (default SQLite in the data dir)")
	fs.IntVar(&cfg.EmbeddedRunners, "embedded-runner", 0, "run a built-in shell runner taking N jobs at once")
	fs.StringVar(&cfg.RunnerIsolation, "runner-isolation", runner.IsolationNamespaces,
		"embedded runner job isolation: namespaces, or none to let jobs run with the server's privileges")
	fs.StringVar(&cfg.RunnerJobUser, "runner-job-user", "", "UID[:GID] embedded jobs run as when the server runs as root (default 65534)")
	fs.StringVar(&cfg.BuildsDir, "builds-dir", "", "embedded runner builds dir (default a fresh dir under the system temp dir)")
	fs.StringVar(&cfg.SecretsFile, "secrets-file", "", "key file encrypting CI variable values (default <data-dir>-secrets.key)")
	fs.DurationVar(&cfg.LongPoll, "long-poll", 50*time.Second, "how long POST /jobs/request waits for a job")
	fs.DurationVar(&cfg.SweepInterval, "sweep-interval", 5*time.Second, "background work period")
	fs.DurationVar(&cfg.StuckRunning, "stuck-running-timeout", time.Hour, "fail running jobs whose runner is silent this long")
	fs.DurationVar(&cfg.StuckPending, "stuck-pending-timeout", 24*time.Hour, "fail pending jobs no runner takes this long")
	sizeVar(fs, &cfg.MaxTraceSize, "max-trace-size", 100<<20, "job log size limit (bytes, or with a unit: 100MiB)")
	sizeVar(fs, &cfg.MaxArtifact, "max-artifact-size", 100<<20, "artifact upload limit (bytes, or with a unit: 100MiB)")
	fs.StringVar(&cfg.RootToken, "root-token", "", "becomes a personal access token of root (else one is printed once on first start); prefer the environment variable, which ps does not show")
	fs.StringVar(&cfg.RootPassword, "root-password", "", "root's web UI password (else one is printed once on first start); prefer the environment variable")
	fs.StringVar(&cfg.RegistrationToken, "runner-registration-token", "", "enables legacy POST /api/v4/runners registration with this token")
	fs.BoolVar(&cfg.AllowLocalRequests, "allow-local-requests", false, "let include:remote fetch from this host and private, link-local and shared networks")
	logs.register(fs)
	return fs, cfg, logs
}

func serve(ctx context.Context, args []string) error {
	fs, cfg, logs := serveFlags()
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.EmbeddedRunners < 0 {
		return fmt.Errorf("--embedded-runner (%s) must not be negative", envName("embedded-runner"))
	}
	if err := positive(map[string]int64{"long-poll": int64(cfg.LongPoll),
		"sweep-interval": int64(cfg.SweepInterval), "stuck-running-timeout": int64(cfg.StuckRunning),
		"stuck-pending-timeout": int64(cfg.StuckPending), "max-trace-size": cfg.MaxTraceSize, "max-artifact-size": cfg.MaxArtifact}); err != nil {
		return err
	}
	cfg.Log = logs.logger()
	return app.Run(ctx, *cfg)
}

// positive checks that each setting is above zero.
func positive(vals map[string]int64) error {
	var errs []error
	for name, v := range vals {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s (%s) must be greater than zero", name, envName(name)))
		}
	}
	return errors.Join(errs...)
}

func runRunner(ctx context.Context, args []string) error {
	fs := newFlagSet("runner", "Runs a built-in shell runner that takes jobs from a coordinator over its runner protocol.")
	var cfg runner.Config
	var logs logSettings
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "coordinator URL")
	fs.StringVar(&cfg.Token, "token", "", "runner authentication token (glrt-…), required")
	fs.StringVar(&cfg.BuildsDir, "builds-dir", "./builds", "where jobs are checked out")
	fs.IntVar(&cfg.Concurrency, "concurrency", 1, "jobs at once")
	fs.StringVar(&cfg.Name, "name", "gantry-runner", "runner name")
	fs.StringVar(&cfg.Isolation, "isolation", runner.IsolationNamespaces,
		"job isolation: namespaces, or none to let jobs run with the runner's privileges")
	fs.StringVar(&cfg.JobUser, "job-user", "", "UID[:GID] jobs run as when the runner runs as root (default 65534)")
	logs.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Token == "" {
		return fmt.Errorf("--token (%s) is required", envName("token"))
	}
	if err := positive(map[string]int64{"concurrency": int64(cfg.Concurrency)}); err != nil {
		return err
	}
	cfg.Logger = logs.logger()
	return runner.Run(ctx, cfg)
}

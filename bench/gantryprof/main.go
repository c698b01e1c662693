// Command gantryprof is `gantry serve` with CPU profiling, for benchmarks
// only: it runs the same app.Run with the same flags as cmd/gantry (the
// subset the bench uses) and adds a second loopback listener (--pprof) with
// net/http/pprof's /debug/pprof/ handlers plus
//
//	POST /cpu/start?file=PATH   start a CPU profile written to PATH
//	POST /cpu/stop              stop it (the file is complete afterwards)
//
// so that a driver can profile exactly one phase of a run. Usage:
//
//	go build -o /tmp/gantryprof ./bench/gantryprof
//	/tmp/gantryprof serve --data-dir DIR --pprof 127.0.0.1:6060
//	go tool pprof -top /tmp/gantryprof cpu.pprof
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	rpprof "runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/gantryci/gantry/internal/app"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: gantryprof serve [--listen ADDR] [--data-dir DIR] [--pprof ADDR] ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	var cfg app.Config
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.DataDir, "data-dir", "./gantry-data", "data directory")
	fs.StringVar(&cfg.ExternalURL, "external-url", "", "public base URL")
	fs.StringVar(&cfg.DatabaseURL, "database", "", "postgres:// URL; default SQLite in the data dir")
	fs.IntVar(&cfg.EmbeddedRunners, "embedded-runner", 0, "built-in runner concurrency")
	fs.DurationVar(&cfg.LongPoll, "long-poll", 50*time.Second, "jobs/request long poll")
	fs.DurationVar(&cfg.SweepInterval, "sweep-interval", 5*time.Second, "background work period")
	fs.DurationVar(&cfg.StuckRunning, "stuck-running-timeout", time.Hour, "fail running jobs whose runner is silent this long")
	fs.DurationVar(&cfg.StuckPending, "stuck-pending-timeout", 24*time.Hour, "fail pending jobs no runner takes this long")
	fs.Int64Var(&cfg.MaxTraceSize, "max-trace-size", 100<<20, "job log size limit in bytes")
	fs.Int64Var(&cfg.MaxArtifact, "max-artifact-size", 100<<20, "artifact upload limit in bytes")
	pp := fs.String("pprof", "127.0.0.1:6060", "loopback address for /debug/pprof and /cpu/{start,stop}")
	blockRate := fs.Int("block-profile-rate", 0, "runtime.SetBlockProfileRate (0 = off)")
	_ = fs.Parse(os.Args[2:])
	cfg.RootToken = os.Getenv("GANTRY_ROOT_TOKEN")
	cfg.RegistrationToken = os.Getenv("GANTRY_RUNNER_REGISTRATION_TOKEN")
	var lvl slog.Level
	if lvl.UnmarshalText([]byte(os.Getenv("GANTRY_LOG_LEVEL"))) != nil {
		lvl = slog.LevelInfo
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if *blockRate > 0 {
		runtime.SetBlockProfileRate(*blockRate)
		runtime.SetMutexProfileFraction(*blockRate)
	}

	var mu sync.Mutex
	var cur *os.File
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /cpu/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if cur != nil {
			http.Error(w, "already profiling", http.StatusConflict)
			return
		}
		f, err := os.Create(r.URL.Query().Get("file"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := rpprof.StartCPUProfile(f); err != nil {
			f.Close()
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		cur = f
	})
	mux.HandleFunc("POST /cpu/stop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if cur == nil {
			return
		}
		rpprof.StopCPUProfile()
		cur.Close()
		cur = nil
	})
	go func() {
		if err := http.ListenAndServe(*pp, mux); err != nil {
			cfg.Log.Error("pprof listener", "err", err)
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gantryprof:", err)
		os.Exit(1)
	}
}

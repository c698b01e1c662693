package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/app"
)

// TestSettings checks that flags and environment variables are parsed with
// the flag's own type, that a flag beats its variable, and that a bad value
// in either stops start-up naming the setting instead of falling back to
// the default.
func TestSettings(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" for success
		check   func(t *testing.T, c *app.Config)
	}{
		{name: "defaults", check: func(t *testing.T, s *app.Config) {
			if s.MaxTraceSize != 100<<20 || s.LongPoll != 50*time.Second || s.EmbeddedRunners != 0 || s.DatabaseURL != "" {
				t.Errorf("defaults: %+v", s)
			}
		}},
		{name: "env sizes with units", env: map[string]string{"GANTRY_MAX_TRACE_SIZE": "100MiB"}, check: func(t *testing.T, s *app.Config) {
			if s.MaxTraceSize != 100<<20 {
				t.Errorf("size = %d", s.MaxTraceSize)
			}
		}},
		{name: "env plain bytes", env: map[string]string{"GANTRY_MAX_TRACE_SIZE": "1048576"}, check: func(t *testing.T, s *app.Config) {
			if s.MaxTraceSize != 1<<20 {
				t.Errorf("size = %d", s.MaxTraceSize)
			}
		}},
		{name: "flag beats env", args: []string{"--long-poll", "2s"}, env: map[string]string{"GANTRY_LONG_POLL": "bad"},
			check: func(t *testing.T, s *app.Config) {
				if s.LongPoll != 2*time.Second {
					t.Errorf("poll = %v", s.LongPoll)
				}
			}},
		{name: "exceptional env name", env: map[string]string{"GANTRY_DATABASE_URL": "postgres://x/y"}, check: func(t *testing.T, s *app.Config) {
			if s.DatabaseURL != "postgres://x/y" {
				t.Errorf("db = %q", s.DatabaseURL)
			}
		}},
		{name: "bad size", env: map[string]string{"GANTRY_MAX_TRACE_SIZE": "lots"}, wantErr: `GANTRY_MAX_TRACE_SIZE="lots": not a size`},
		{name: "bad duration", env: map[string]string{"GANTRY_LONG_POLL": "5"}, wantErr: `GANTRY_LONG_POLL="5": not a duration`},
		{name: "bad number", env: map[string]string{"GANTRY_EMBEDDED_RUNNER": "two"}, wantErr: `GANTRY_EMBEDDED_RUNNER="two": not a whole number`},
		{name: "bad log level", env: map[string]string{"GANTRY_LOG_LEVEL": "loud"}, wantErr: `GANTRY_LOG_LEVEL="loud"`},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "must be text or json"},
		{name: "bad flag", args: []string{"--long-poll", "soon"}, wantErr: "long-poll"},
		{name: "stray argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{name: "two errors both named", env: map[string]string{"GANTRY_LONG_POLL": "x", "GANTRY_MAX_TRACE_SIZE": "y"}, wantErr: "GANTRY_LONG_POLL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"GANTRY_MAX_TRACE_SIZE", "GANTRY_LONG_POLL", "GANTRY_EMBEDDED_RUNNER", "GANTRY_DATABASE_URL", "GANTRY_LOG_LEVEL", "GANTRY_LOG_FORMAT"} {
				t.Setenv(k, "")
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			fs, cfg, _ := serveFlags()
			err := parse(fs, c.args)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

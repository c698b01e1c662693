package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// envNames are the environment variables whose names do not follow the
// rule GANTRY_ + the flag's name in upper case with - as _.
var envNames = map[string]string{
	"database": "GANTRY_DATABASE_URL",
	"token":    "GANTRY_RUNNER_TOKEN",
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	if n, ok := envNames[flagName]; ok {
		return n
	}
	return "GANTRY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet is a flag set whose usage lists every setting with its
// environment variable and default.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := os.Stderr
		fmt.Fprintf(w, "usage: gantry %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown; a flag wins):\n", name, synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			fmt.Fprintf(w, "  --%s\n\t%s\n\tenv %s, default %s\n", f.Name, f.Usage, envName(f.Name), def)
		})
	}
	return fs
}

// errHelp is returned when -h was asked for: usage was printed.
var errHelp = flag.ErrHelp

// parse parses args, then sets each flag not given on the command line from
// its environment variable. A bad value in either stops start-up with a
// message naming the setting, rather than falling back to the default.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return errHelp
		}
		return fmt.Errorf("%w (run gantry %s -h for the settings)", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (run gantry %s -h for the settings)", fs.Arg(0), fs.Name())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := envName(f.Name)
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, explain(f, err)))
		}
	})
	return errors.Join(errs...)
}

// explain turns the flag package's terse "parse error" into what the value
// should look like.
func explain(f *flag.Flag, err error) error {
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return errors.New("not a duration (use a unit: 30s, 5m, 1h)")
		case int, int64, uint, uint64:
			return errors.New("not a whole number")
		case bool:
			return errors.New("not true or false")
		}
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// byteSize is a size flag: a number of bytes, or one with a unit
// ("100MiB", "1 GB", "512k").
type byteSize struct{ p *int64 }

func (b byteSize) String() string {
	if b.p == nil {
		return ""
	}
	return humanize.IBytes(uint64(*b.p))
}

func (b byteSize) Set(s string) error {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return fmt.Errorf("not a size (use bytes or a unit such as 100MiB)")
	}
	if n > 1<<62 {
		return fmt.Errorf("too large")
	}
	*b.p = int64(n)
	return nil
}

func sizeVar(fs *flag.FlagSet, p *int64, name string, def int64, usage string) {
	*p = def
	fs.Var(byteSize{p}, name, usage)
}

// logSettings are the logging flags every command takes.
type logSettings struct {
	level  slog.Level
	format string
}

func (l *logSettings) register(fs *flag.FlagSet) {
	l.level = slog.LevelInfo
	fs.TextVar(&l.level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.Func("log-format", "log format: text or json (default text)", func(s string) error {
		if s != "text" && s != "json" {
			return errors.New("must be text or json")
		}
		l.format = s
		return nil
	})
}

func (l *logSettings) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.level}
	if l.format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// printComparison writes a markdown table of several result files side by
// side (go run ./bench -compare A.json,B.json,…). Each argument is FILE or
// LABEL=FILE; the default label is the run's database and coordinators.
func printComparison(w io.Writer, args []string) error {
	var labels []string
	var runs []*results
	for _, a := range args {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		label, file, ok := strings.Cut(a, "=")
		if !ok {
			label, file = "", a
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var r results
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if label == "" {
			label = runLabel(&r)
		}
		labels = append(labels, label)
		runs = append(runs, &r)
	}
	if len(runs) == 0 {
		return fmt.Errorf("no result files")
	}
	io.WriteString(w, comparison(labels, runs))
	return nil
}

// runLabel is "SQLite" or "PostgreSQL 17.6, 2 coordinators".
func runLabel(r *results) string {
	db := r.Database
	switch {
	case db == "" || db == "sqlite":
		db = "SQLite"
	case strings.HasPrefix(db, "postgres"):
		db = "PostgreSQL" + strings.TrimPrefix(db, "postgres")
	}
	if n := max(1, r.Coordinators); n > 1 {
		return fmt.Sprintf("%s, %d coordinators", db, n)
	}
	return db + ", 1 coordinator"
}

// comparison renders the runs' figures in one table per kind, a column per run.
func comparison(labels []string, runs []*results) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	head := func(first string) {
		p("| %s |", first)
		for _, l := range labels {
			p(" %s |", l)
		}
		p("\n|---|")
		for range labels {
			p("---:|")
		}
		p("\n")
	}
	row := func(name string, cell func(r *results) string) {
		p("| %s |", name)
		for _, r := range runs {
			c := cell(r)
			if c == "" {
				c = "–"
			}
			p(" %s |", c)
		}
		p("\n")
	}
	for i, r := range runs {
		p("- %s: run %s, load average at start %s, `go run ./bench %s`\n", labels[i], r.Timestamp, r.Machine.LoadAvg,
			strings.Join(redactArgs(r.Args), " "))
	}
	p("\n")

	// Reads: every (size, scenario) of any run, in first-seen order.
	type key struct {
		jobs int64
		sc   string
	}
	var keys []key
	seen := map[key]bool{}
	for _, r := range runs {
		for _, x := range r.Reads {
			k := key{x.Jobs, x.Scenario}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	if len(keys) > 0 {
		p("**Jobs API reads**: req/s, p99 ms (%% of the ceiling: the same bytes from a bare net/http server)\n\n")
		head("jobs · request")
		for _, k := range keys {
			row(fmt.Sprintf("%s · %s", human(k.jobs), k.sc), func(r *results) string {
				x := r.read(k.jobs, k.sc)
				if x == nil {
					return ""
				}
				mark := ""
				if x.Slow {
					mark = " ¹"
				}
				return fmt.Sprintf("%.0f/s, %.1f ms (%.1f%%)%s", x.Gantry.PerSecond, x.Gantry.P99ms, 100*x.Ratio, mark)
			})
		}
		p("\n¹ over 0.5 s a request: one connection, a few requests.\n\n")
	}

	p("**Writes, seeding, footprint**\n\n")
	head("what")
	sizes := map[int64]bool{}
	var order []int64
	for _, r := range runs {
		for _, s := range r.Seeds {
			if !sizes[s.Jobs] {
				sizes[s.Jobs] = true
				order = append(order, s.Jobs)
			}
		}
	}
	for _, n := range order {
		row(fmt.Sprintf("seeding %s jobs (storage layer): jobs/s, size on disk", human(n)), func(r *results) string {
			for _, s := range r.Seeds {
				if s.Jobs == n {
					return fmt.Sprintf("%.0f/s, %.0f MB", s.JobsPerSec, float64(s.DBBytes)/(1<<20))
				}
			}
			return ""
		})
	}
	row("pipeline creation (50 jobs): pipelines/s, p50 / p99 ms, coordinator CPU per pipeline", func(r *results) string {
		if x := r.Pipelines; x != nil {
			return fmt.Sprintf("%.1f/s, %.0f / %.0f, %.1f ms", x.PerSecond, x.Latency.P50ms, x.Latency.P99ms, x.CPUms)
		}
		return ""
	})
	row("job pick-up, 50 runners: jobs/s (errors), coordinator CPU per job", func(r *results) string {
		if x := r.Pickup; x != nil {
			return fmt.Sprintf("%.0f/s (%d), %.2f ms", x.PerSecond, x.Errors, x.CPUms)
		}
		return ""
	})
	row("  pick-up: jobs/request p50 / p99 ms", func(r *results) string {
		if x := r.Pickup; x != nil {
			return fmt.Sprintf("%.1f / %.1f", x.Request.P50ms, x.Request.P99ms)
		}
		return ""
	})
	row("  pick-up: final PUT success p50 / p99 ms", func(r *results) string {
		if x := r.Pickup; x != nil {
			return fmt.Sprintf("%.1f / %.1f", x.Success.P50ms, x.Success.P99ms)
		}
		return ""
	})
	row("long-poll wake-up p50 / p99 ms", func(r *results) string {
		if x := r.Wake; x != nil {
			return fmt.Sprintf("%.1f / %.1f", x.Wake.P50ms, x.Wake.P99ms)
		}
		return ""
	})
	type ik struct{ jobs, interval int }
	var iks []ik
	iseen := map[ik]bool{}
	for _, r := range runs {
		for _, x := range r.Ingest {
			k := ik{x.Jobs, x.IntervalMs}
			if !iseen[k] {
				iseen[k] = true
				iks = append(iks, k)
			}
		}
	}
	for _, k := range iks {
		mode := "as fast as possible"
		if k.interval > 0 {
			mode = fmt.Sprintf("1 PATCH/job/%g s", float64(k.interval)/1000)
		}
		row(fmt.Sprintf("log ingest, %d jobs, %s: MB/s, PATCH p99 ms, logs differing, coordinator CPU per PATCH", k.jobs, mode), func(r *results) string {
			for _, x := range r.Ingest {
				if x.Jobs == k.jobs && x.IntervalMs == k.interval {
					return fmt.Sprintf("%.2f, %.0f ms, %d, %.2f ms", x.MBps, x.Patch.P99ms, x.Mismatched, x.CPUms)
				}
			}
			return ""
		})
	}
	row("RSS idle, empty database (one coordinator)", func(r *results) string {
		if f := r.Footprint; f.IdleRSSMB > 0 {
			return fmt.Sprintf("%.1f MB", f.IdleRSSMB)
		}
		return ""
	})
	row("ready with the largest data set (median)", func(r *results) string {
		if f := r.Footprint; len(f.ReadyMs) > 0 {
			return fmt.Sprintf("%.0f ms (%s jobs)", f.ReadyMs[len(f.ReadyMs)/2], human(f.ReadyJobs))
		}
		return ""
	})
	row("RSS peak under read / write load (all coordinators)", func(r *results) string {
		if f := r.Footprint; f.ReadsPeakRSSMB > 0 || f.WritesPeakRSSMB > 0 {
			return fmt.Sprintf("%.0f / %.0f MB", f.ReadsPeakRSSMB, f.WritesPeakRSSMB)
		}
		return ""
	})
	return b.String()
}

// redactArgs hides the password of a -database URL.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if at := strings.Index(a, "@"); at > 0 && strings.Contains(a, "://") {
			if u := strings.Index(a, "://") + 3; strings.Contains(a[u:at], ":") {
				a = a[:u] + a[u:u+strings.Index(a[u:at], ":")] + ":…" + a[at:]
			}
		}
		out[i] = a
	}
	return out
}

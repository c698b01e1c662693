package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fileClock reads a coordinator clock shared through a file (see
// coordConfig.ClockFile).
func fileClock(path string) time.Time {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Now()
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Now()
	}
	return t
}

// setFileClock moves every coordinator's clock at once.
func setFileClock(t *testing.T, path string, at time.Time) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(at.UTC().Format(time.RFC3339Nano)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestClusterSchedulesRunOnce: two coordinators on one PostgreSQL run
// their schedulers every 50 ms on the same clock. Schedules due every
// minute fire exactly once per due run across both (the claim is one
// conditional UPDATE), also when missed for ten periods (one catch-up run),
// and the scheduled pipeline's job is run by a runner.
func TestClusterSchedulesRunOnce(t *testing.T) {
	t.Parallel()
	clockFile := filepath.Join(t.TempDir(), "clock")
	start := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	setFileClock(t, clockFile, start)
	cl := newCluster(t, 2, coordConfig{LongPoll: 2 * time.Second, SweepInterval: 50 * time.Millisecond, ClockFile: clockFile})
	a, b := cl.nodes[0], cl.nodes[1]
	project := a.project("sched", "private")
	a.push("root/sched", map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
	// The push's own pipeline first, so that only scheduled jobs remain.
	r := b.registerRunner()
	if j := r.request(); j == nil {
		t.Fatal("the push's job was not handed out")
	} else {
		r.finish(int64(j["id"].(float64)), j["token"].(string), "success", "")
	}
	const schedules = 5
	for i := range schedules {
		node := cl.nodes[i%2]
		node.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline_schedules", project), rootToken,
			map[string]any{"description": fmt.Sprintf("s%d", i), "ref": "main", "cron": "* * * * *"})
	}
	count := func() string {
		return cl.query(`SELECT count(*) FROM pipelines WHERE source = 'schedule'`)
	}
	// waitRound moves the clock and waits until every schedule has moved
	// its next_run_at past it; the clock then stands still, so the count
	// of pipelines is final for the round.
	waitRound := func(at time.Time, want int) {
		t.Helper()
		setFileClock(t, clockFile, at)
		micros := strconv.FormatInt(at.UnixMicro(), 10)
		waitFor(t, "the schedules to run", 60*time.Second, func() bool {
			return cl.query(`SELECT count(*) FROM pipeline_schedules WHERE next_run_at <= `+micros) == "0" &&
				count() == strconv.Itoa(want)
		})
		// Give both schedulers several more ticks at this time.
		time.Sleep(300 * time.Millisecond)
		if got := count(); got != strconv.Itoa(want) {
			t.Fatalf("%s scheduled pipelines, want %d", got, want)
		}
	}
	next := start.Truncate(time.Minute).Add(time.Minute)
	waitRound(next.Add(time.Second), schedules)
	waitRound(next.Add(time.Minute+time.Second), 2*schedules)
	// Ten periods missed: one catch-up run each.
	waitRound(next.Add(11*time.Minute+time.Second), 3*schedules)
	if got := cl.query(`SELECT count(DISTINCT pipeline_schedule_id) || '/' || min(n) || '/' || max(n) FROM
		(SELECT pipeline_schedule_id, count(*) AS n FROM pipelines WHERE source = 'schedule' GROUP BY pipeline_schedule_id) x`); got != "5/3/3" {
		t.Errorf("schedules/min/max pipelines per schedule = %s, want 5/3/3", got)
	}

	// A runner runs a scheduled pipeline's job.
	j := r.request()
	if j == nil {
		t.Fatal("no job handed out")
	}
	id := strconv.FormatInt(int64(j["id"].(float64)), 10)
	if got := cl.query(`SELECT p.source FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id WHERE j.id = ` + id); got != "schedule" {
		t.Fatalf("job %s is of a %s pipeline", id, got)
	}
	r.finish(int64(j["id"].(float64)), j["token"].(string), "success", "")
	waitFor(t, "the scheduled pipeline to succeed", 30*time.Second, func() bool {
		return cl.query(`SELECT p.status FROM pipelines p JOIN jobs j ON j.pipeline_id = p.id WHERE j.id = `+id) == "success"
	})
}

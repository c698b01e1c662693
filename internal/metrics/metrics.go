// Package metrics defines every Prometheus metric Gantry exports, in one
// registry served on its own listener (--metrics-listen). Components never
// import it: each records through a small observer interface of its own
// (httpx.RequestObserver, pipeline.Observer, runnerapi.Observer, the
// store's hooks), which *Metrics implements and internal/app wires.
// docs/operations.md lists the metrics with their labels.
//
// Hot paths stay cheap: label values known in advance (runner types,
// long-poll outcomes, transfer kinds) are curried once into plain
// counters and observers, and the HTTP series of a route and status are
// looked up in a small map instead of building label slices per request.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gantryci/gantry/internal/httpx"
)

// Namespace prefixes every Gantry metric.
const Namespace = "gantry"

// Runner types, long-poll outcomes and other fixed label values.
var (
	runnerTypes  = []string{"instance_type", "group_type", "project_type"}
	pollOutcomes = []string{OutcomeJob, OutcomeNoJob, OutcomeTimeout}
)

// Long-poll outcomes of POST /jobs/request.
const (
	// OutcomeJob: a job was handed out (201).
	OutcomeJob = "job"
	// OutcomeNoJob: answered 204 at once, without waiting (a paused runner).
	OutcomeNoJob = "no_job"
	// OutcomeTimeout: the long poll waited its whole time and found none.
	OutcomeTimeout = "timeout"
)

// Sources of the scrape-time gauges, read from the store.
type Sources struct {
	// Jobs counts builds (not bridges) by status, for the pending and
	// running gauges.
	Jobs func(ctx context.Context) (pending, running int, err error)
	// Runners lists runners and when they last contacted the coordinator.
	Runners func(ctx context.Context) ([]RunnerContact, error)
	// Parked is how many long polls wait for a job in this process.
	Parked func() int64
}

// RunnerContact is one runner's last contact (zero when never).
type RunnerContact struct {
	ID          int64
	Type        string
	ContactedAt time.Time
}

// Metrics holds Gantry's registry and metrics.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	routesMu     sync.RWMutex
	routes       map[routeKey]*routeSeries

	queueDuration map[queueKey]prometheus.Observer
	jobsFinished  *prometheus.CounterVec
	jobRequests   map[string]prometheus.Counter

	pipelinesCreated   *prometheus.CounterVec
	pipelineCreation   prometheus.Observer
	pipelineProcessing prometheus.Observer
	configErrors       *prometheus.CounterVec

	tracePatches   prometheus.Counter
	traceBytesIn   prometheus.Counter
	traceBytesRead prometheus.Counter
	artifactUp     prometheus.Counter
	artifactDown   prometheus.Counter

	txDuration  prometheus.Observer
	writerWait  prometheus.Observer
	bgRuns      *prometheus.CounterVec
	bgErrors    *prometheus.CounterVec
	bgDurations *prometheus.HistogramVec
}

type routeKey struct {
	method, route string
	status        int
}

type routeSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

type queueKey struct {
	runnerType string
	tagged     bool
}

// New builds the registry with every metric, the Go runtime and process
// collectors, and the gauges read from src at scrape time.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{reg: reg, routes: map[routeKey]*routeSeries{}}

	m.httpRequests = f.counterVec("http_requests_total",
		"HTTP requests by method, route pattern and status.", "method", "route", "status")
	m.httpDuration = f.histogramVec("http_request_duration_seconds",
		"HTTP request duration by method, route pattern and status.", httpBuckets, "method", "route", "status")

	queue := f.histogramVec("job_queue_duration_seconds",
		"Time from a build becoming pending to a runner picking it up, by runner type and whether the job has tags.",
		queueBuckets, "runner_type", "has_tags")
	m.queueDuration = map[queueKey]prometheus.Observer{}
	for _, t := range runnerTypes {
		for _, tagged := range []bool{false, true} {
			m.queueDuration[queueKey{t, tagged}] = queue.WithLabelValues(t, strconv.FormatBool(tagged))
		}
	}
	m.jobsFinished = f.counterVec("jobs_finished_total",
		"Jobs that reached a final status, by status and failure reason.", "status", "failure_reason")
	requests := f.counterVec("runner_job_requests_total",
		"Runner long polls (POST /api/v4/jobs/request) by outcome: job, no_job, timeout.", "outcome")
	m.jobRequests = map[string]prometheus.Counter{}
	for _, o := range pollOutcomes {
		m.jobRequests[o] = requests.WithLabelValues(o)
	}

	m.pipelinesCreated = f.counterVec("pipelines_created_total", "Pipelines created, by source.", "source")
	m.pipelineCreation = f.histogram("pipeline_creation_duration_seconds",
		"Time to create a pipeline (read and compile the configuration, store it, first processing).", durationBuckets)
	m.pipelineProcessing = f.histogram("pipeline_processing_duration_seconds",
		"Time of one processing of a pipeline after its jobs changed.", durationBuckets)
	m.configErrors = f.counterVec("pipeline_config_errors_total",
		"Pipeline creations that failed on a .gitlab-ci.yml error, by source.", "source")

	m.tracePatches = f.counter("trace_patches_total", "Incremental job log PATCHes from runners.")
	m.traceBytesIn = f.counter("trace_received_bytes_total", "Job log bytes received from runners.")
	m.traceBytesRead = f.counter("trace_read_bytes_total", "Job log bytes served to the API and the web UI.")
	m.artifactUp = f.counter("artifact_uploaded_bytes_total", "Artifact bytes uploaded by runners.")
	m.artifactDown = f.counter("artifact_downloaded_bytes_total", "Artifact bytes downloaded by users and runners.")

	m.txDuration = f.histogram("db_transaction_duration_seconds",
		"Write transaction duration, from asking for the writer to commit.", dbBuckets)
	m.writerWait = f.histogram("db_sqlite_writer_wait_seconds",
		"SQLite only: time a write transaction waited for the single writer connection.", dbBuckets)
	m.bgRuns = f.counterVec("background_runs_total", "Background work runs, by task.", "task")
	m.bgErrors = f.counterVec("background_errors_total", "Background work errors, by task.", "task")
	m.bgDurations = f.histogramVec("background_run_duration_seconds", "Background work run duration, by task.",
		durationBuckets, "task")

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&storeCollector{src: src,
		pending: desc("jobs_pending", "Builds waiting for a runner (all coordinators of the database)."),
		running: desc("jobs_running", "Builds a runner is running (all coordinators of the database)."),
		contact: desc("runner_last_contact_timestamp_seconds",
			"When a runner last contacted a coordinator (Unix time; absent when never).", "runner_id", "runner_type"),
		errs: desc("metrics_store_scrape_failed", "1 when this scrape could not read the store-backed gauges."),
	})
	if src.Parked != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "runner_requests_parked",
			Help: "Runner long polls waiting for a job in this coordinator."}, func() float64 { return float64(src.Parked()) }))
	}
	return m
}

// Buckets: HTTP answers in milliseconds to seconds (long polls end at the
// top bucket), queue times from immediate pick-up to hours.
var (
	httpBuckets     = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	queueBuckets    = []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600}
	durationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	dbBuckets       = []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
)

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer is the registry, for tests and the bench.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// ObserveRequest implements httpx.RequestObserver.
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration, in, out int64, info *httpx.RequestInfo) {
	s := m.route(routeKey{method, route, status})
	s.count.Inc()
	s.duration.Observe(d.Seconds())
	switch info.Transfer {
	case httpx.TransferTraceIn:
		m.tracePatches.Inc()
		m.traceBytesIn.Add(float64(in))
	case httpx.TransferTraceOut:
		m.traceBytesRead.Add(float64(out))
	case httpx.TransferArtifactIn:
		m.artifactUp.Add(float64(in))
	case httpx.TransferArtifactOut:
		m.artifactDown.Add(float64(out))
	}
}

// route returns the series of a route and status, made on first use.
func (m *Metrics) route(k routeKey) *routeSeries {
	m.routesMu.RLock()
	s := m.routes[k]
	m.routesMu.RUnlock()
	if s != nil {
		return s
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	if s = m.routes[k]; s == nil {
		code := strconv.Itoa(k.status)
		s = &routeSeries{count: m.httpRequests.WithLabelValues(k.method, k.route, code),
			duration: m.httpDuration.WithLabelValues(k.method, k.route, code)}
		m.routes[k] = s
	}
	return s
}

// JobRequest counts a long poll's outcome (runnerapi.Observer).
func (m *Metrics) JobRequest(outcome string) {
	if c := m.jobRequests[outcome]; c != nil {
		c.Inc()
	}
}

// JobPickedUp records how long a build waited in the queue
// (runnerapi.Observer).
func (m *Metrics) JobPickedUp(runnerType string, tagged bool, wait time.Duration) {
	if o := m.queueDuration[queueKey{runnerType, tagged}]; o != nil {
		o.Observe(wait.Seconds())
	}
}

// JobFinished counts a job that reached a final status.
func (m *Metrics) JobFinished(status, failureReason string) {
	m.jobsFinished.WithLabelValues(status, failureReason).Inc()
}

// PipelineCreated records a created pipeline (pipeline.Observer).
func (m *Metrics) PipelineCreated(source string, d time.Duration) {
	m.pipelinesCreated.WithLabelValues(source).Inc()
	m.pipelineCreation.Observe(d.Seconds())
}

// PipelineConfigError counts a configuration error (pipeline.Observer).
func (m *Metrics) PipelineConfigError(source string) {
	m.configErrors.WithLabelValues(source).Inc()
}

// PipelineProcessed records one processing (pipeline.Observer).
func (m *Metrics) PipelineProcessed(d time.Duration) { m.pipelineProcessing.Observe(d.Seconds()) }

// BackgroundRun records a run of background work (pipeline.Observer).
func (m *Metrics) BackgroundRun(task string, d time.Duration, errs int) {
	m.bgRuns.WithLabelValues(task).Inc()
	m.bgDurations.WithLabelValues(task).Observe(d.Seconds())
	// Added even when zero, so that a task's error series exists (at 0)
	// from its first run and rate() sees its first error.
	m.bgErrors.WithLabelValues(task).Add(float64(errs))
}

// Transaction records a write transaction: wait is the time spent waiting
// for SQLite's single writer (zero on PostgreSQL), total includes it.
func (m *Metrics) Transaction(wait, total time.Duration, singleWriter bool) {
	m.txDuration.Observe(total.Seconds())
	if singleWriter {
		m.writerWait.Observe(wait.Seconds())
	}
}

// storeCollector reads the queue gauges and runner contacts at scrape time:
// one COUNT per status on an indexed column and one runner listing, so the
// numbers are the database's (right across coordinators and restarts)
// without maintaining counters on every job change.
type storeCollector struct {
	src                             Sources
	pending, running, contact, errs *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.running
	ch <- c.contact
	ch <- c.errs
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := 0.0
	if c.src.Jobs != nil {
		if p, r, err := c.src.Jobs(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(p))
			ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(r))
		} else {
			failed = 1
		}
	}
	if c.src.Runners != nil {
		if rs, err := c.src.Runners(ctx); err == nil {
			for _, r := range rs {
				if r.ContactedAt.IsZero() {
					continue
				}
				ch <- prometheus.MustNewConstMetric(c.contact, prometheus.GaugeValue,
					float64(r.ContactedAt.UnixMilli())/1000, strconv.FormatInt(r.ID, 10), r.Type)
			}
		} else {
			failed = 1
		}
	}
	ch <- prometheus.MustNewConstMetric(c.errs, prometheus.GaugeValue, failed)
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

// factory registers metrics under the namespace.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

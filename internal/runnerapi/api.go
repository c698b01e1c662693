// Package runnerapi serves the server side of GitLab's runner protocol
// (docs/runners.md; lib/api/ci/runner.rb in gitlabhq): registration and
// token lifecycle, job requests with long polling, job state updates,
// incremental traces and artifact upload and download. An unmodified gitlab-runner (19.4, and 14.10
// with its older quirks) talks to it.
package runnerapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// Defaults for zero Config fields.
const (
	DefaultLongPoll            = 50 * time.Second
	DefaultTraceUpdateInterval = 3
	DefaultMaxArtifactSize     = 100 << 20
)

// Write throttles. Polling runners and chatty traces must not turn into a
// write per request: contact and liveness only need minute-level accuracy
// (a runner is "online" for 2 h, a running job is stuck after 1 h silent).
const (
	contactEvery  = 20 * time.Second
	touchJobEvery = 30 * time.Second
)

// maxClaimers bounds concurrent ClaimJob calls from this process, so a
// wake-up of many parked long polls does not hit the database all at once.
const maxClaimers = 8

// wakeGap is the minimum time between two broadcasts to parked long polls;
// a burst of NotifyPending calls within it collapses into one wake-up.
const wakeGap = 10 * time.Millisecond

// Config wires the runner API.
type Config struct {
	Store  store.Store
	Engine *pipeline.Service
	Blobs  blob.Store
	Log    *slog.Logger
	// ExternalURL is the server's base URL (repo_url and CI_* variables come
	// from the engine, which has its own copy).
	ExternalURL string
	// RegistrationToken enables legacy POST /runners; empty disables it (403).
	RegistrationToken string
	// LongPoll is how long jobs/request waits for a job (default 50 s).
	LongPoll time.Duration
	// TraceUpdateInterval is X-GitLab-Trace-Update-Interval in seconds (default 3).
	TraceUpdateInterval int
	// MaxArtifactSize bounds one uploaded file (default 100 MiB); 413 above.
	MaxArtifactSize int64
	// MaxTraceSize bounds a job log (0 = unlimited); above it the job is
	// dropped as trace_size_exceeded.
	MaxTraceSize int64
	// Policy decides who a job token is; nil builds one on Store.
	Policy *access.Policy
	// Observer records long polls and pick-ups (the metrics); may be nil.
	Observer Observer
}

// Observer is told what the job queue does, for the metrics.
type Observer interface {
	// JobRequest is a long poll's outcome: "job", "no_job" (answered at
	// once) or "timeout" (waited the whole long poll).
	JobRequest(outcome string)
	// JobPickedUp is a build taken by a runner of that type after wait in
	// the queue.
	JobPickedUp(runnerType string, tagged bool, wait time.Duration)
}

type nopObserver struct{}

func (nopObserver) JobRequest(string)                       {}
func (nopObserver) JobPickedUp(string, bool, time.Duration) {}

// API is the runner protocol server.
type API struct {
	cfg   Config
	store store.Store
	eng   *pipeline.Service
	blobs blob.Store
	log   *slog.Logger
	now   func() time.Time
	// policy resolves job tokens of dependent jobs.
	policy *access.Policy

	// wake is closed (and replaced) to wake parked long polls.
	wakeMu    sync.Mutex
	wake      chan struct{}
	gen       uint64
	lastWake  time.Time
	wakeTimer *time.Timer
	// epoch makes X-GitLab-Last-Update differ between processes.
	epoch string

	claimSem chan struct{}
	// parked counts long polls waiting for a wake-up (tests, metrics).
	parked atomic.Int64

	// contacts remembers the last manager/runner writes (see contactEvery).
	contactMu sync.Mutex
	contacts  map[contactKey]*contact
}

// New returns the runner API.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.LongPoll <= 0 {
		cfg.LongPoll = DefaultLongPoll
	}
	if cfg.TraceUpdateInterval <= 0 {
		cfg.TraceUpdateInterval = DefaultTraceUpdateInterval
	}
	if cfg.MaxArtifactSize <= 0 {
		cfg.MaxArtifactSize = DefaultMaxArtifactSize
	}
	if cfg.Policy == nil {
		cfg.Policy = access.New(cfg.Store, nil)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &API{
		cfg: cfg, store: cfg.Store, eng: cfg.Engine, blobs: cfg.Blobs, log: cfg.Log, policy: cfg.Policy,
		now:      func() time.Time { return time.Now().UTC() },
		wake:     make(chan struct{}),
		epoch:    auth.NewToken("", 8),
		claimSem: make(chan struct{}, maxClaimers),
		contacts: map[contactKey]*contact{},
	}
}

// Parked is how many long polls wait for a job in this process.
func (a *API) Parked() int64 { return a.parked.Load() }

// Routes lists the runner endpoints for the server's route table. Every
// body is capped (httpx.LimitBody, 413 beyond): parameters at
// httpx.MaxParamBody, a trace patch at maxTracePatch, an artifact upload at
// its file limit plus the fields beside it.
func (a *API) Routes() []httpx.Route {
	params := int64(httpx.MaxParamBody)
	upload := a.cfg.MaxArtifactSize + int64(httpx.MaxMultipartParts)*(maxFieldSize+maxPartHeader)
	return []httpx.Route{
		{Method: http.MethodPost, Pattern: "/api/v4/runners", Handler: a.handle(params, a.register)},
		{Method: http.MethodPost, Pattern: "/api/v4/runners/verify", Handler: a.handle(params, a.verify)},
		{Method: http.MethodDelete, Pattern: "/api/v4/runners", Handler: a.handle(params, a.unregister)},
		{Method: http.MethodDelete, Pattern: "/api/v4/runners/managers", Handler: a.handle(params, a.unregisterManager)},
		{Method: http.MethodPost, Pattern: "/api/v4/runners/reset_authentication_token", Handler: a.handle(params, a.resetToken)},
		{Method: http.MethodPost, Pattern: "/api/v4/jobs/request", Handler: a.handle(params, a.requestJob)},
		{Method: http.MethodPut, Pattern: "/api/v4/jobs/{id}", Handler: a.handle(params, a.updateJob)},
		{Method: http.MethodPatch, Pattern: "/api/v4/jobs/{id}/trace", Handler: a.handle(maxTracePatch+1, a.patchTrace)},
		{Method: http.MethodPost, Pattern: "/api/v4/jobs/{id}/artifacts", Handler: a.handle(upload, a.uploadArtifact)},
		{Method: http.MethodGet, Pattern: "/api/v4/jobs/{id}/artifacts", Handler: a.handle(params, a.downloadArtifact)},
	}
}

// Handler serves Routes on its own mux; handy for tests and for running the
// runner API standalone.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range a.Routes() {
		mux.HandleFunc(r.Method+" "+r.Pattern, r.Handler)
	}
	return mux
}

// NotifyPending wakes parked long polls because a build may have become
// pending. Calls in a burst are coalesced: the first wakes at once, later
// ones within wakeGap are merged into a single trailing wake-up.
func (a *API) NotifyPending() {
	a.wakeMu.Lock()
	defer a.wakeMu.Unlock()
	now := time.Now()
	if wait := wakeGap - now.Sub(a.lastWake); wait > 0 {
		if a.wakeTimer == nil {
			a.wakeTimer = time.AfterFunc(wait, func() {
				a.wakeMu.Lock()
				defer a.wakeMu.Unlock()
				a.wakeTimer = nil
				a.broadcastLocked(time.Now())
			})
		}
		return
	}
	a.broadcastLocked(now)
}

func (a *API) broadcastLocked(now time.Time) {
	close(a.wake)
	a.wake = make(chan struct{})
	a.gen++
	a.lastWake = now
}

// waiter returns the channel the next broadcast closes and the queue value
// it belongs to. Taking it before a claim attempt means a job that turns
// pending during the attempt still wakes the caller.
func (a *API) waiter() (<-chan struct{}, string) {
	a.wakeMu.Lock()
	defer a.wakeMu.Unlock()
	return a.wake, a.epoch + strconv.FormatUint(a.gen, 16)
}

// ---- shared helpers ----

// jobHeaders sets the headers every PUT and PATCH answer carries.
func (a *API) jobHeaders(w http.ResponseWriter, status ci.Status) {
	if status != "" {
		w.Header().Set("Job-Status", string(status))
	}
	w.Header().Set("X-GitLab-Trace-Update-Interval", strconv.Itoa(a.cfg.TraceUpdateInterval))
}

// handler is a runner endpoint: it writes its own success answer and
// returns failures, which handle answers through httpx's error table.
type handler func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handler to net/http, its body capped at limit bytes.
func (a *API) handle(limit int64, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		httpx.LimitBody(w, r, limit)
		if err := h(w, r); err != nil {
			if httpx.TooLarge(err) {
				err = httpx.ErrBodyTooLarge
			}
			httpx.WriteError(w, r, a.log, err)
		}
	}
}

// errNotProcessing is GitLab's answer for a job a runner no longer holds.
var errNotProcessing = ci.Forbidden("Job is not processing on runner")

// authJob finds the job a job token belongs to and checks it is the job of
// the URL. Unknown ids and foreign tokens are both 403, as in GitLab, so
// job ids cannot be probed.
func (a *API) authJob(ctx context.Context, idText, token string) (*ci.Job, error) {
	return authJobBy(ctx, idText, token, a.store.JobByTokenDigest, func(j *ci.Job) (int64, int64) { return j.ID, j.RunnerID })
}

// authJobState is authJob reading only the job's store.JobState, for the
// log PATCHes that need no more.
func (a *API) authJobState(ctx context.Context, idText, token string) (*store.JobState, error) {
	return authJobBy(ctx, idText, token, a.store.JobStateByTokenDigest,
		func(st *store.JobState) (int64, int64) { return st.ID, st.RunnerID })
}

// authJobBy finds with find what the token's digest belongs to and checks
// that it is the job of the URL (ids gives its job and runner ids).
func authJobBy[T any](ctx context.Context, idText, token string, find func(context.Context, string) (T, error),
	ids func(T) (job, runner int64)) (T, error) {
	var none T
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || token == "" {
		return none, ci.ErrForbidden
	}
	j, err := find(ctx, auth.Digest(token))
	if errors.Is(err, store.ErrNotFound) {
		return none, ci.ErrForbidden
	}
	if err != nil {
		return none, fmt.Errorf("job by token: %w", err)
	}
	jobID, runnerID := ids(j)
	if jobID != id {
		return none, ci.ErrForbidden
	}
	info := httpx.Info(ctx)
	info.SetJob(jobID)
	info.SetRunner(runnerID)
	return j, nil
}

// runnerByToken authenticates a runner token.
func (a *API) runnerByToken(ctx context.Context, token string) (*ci.Runner, error) {
	if token == "" {
		return nil, ci.ErrForbidden
	}
	rn, err := a.store.RunnerByTokenDigest(ctx, auth.Digest(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ci.ErrForbidden
	}
	if err != nil {
		return nil, fmt.Errorf("runner by token: %w", err)
	}
	httpx.Info(ctx).SetRunner(rn.ID)
	return rn, nil
}

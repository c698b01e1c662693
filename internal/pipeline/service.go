// Package pipeline is Gantry's CI engine: it creates pipelines from a commit's
// .gitlab-ci.yml, processes them with GitLab's semantics (stages, needs, when,
// allow_failure, bridges and downstream pipelines), and carries out the job
// and pipeline actions (cancel, retry, play, erase) and the runner's reports.
// It talks to storage only through store.Store.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/store"
)

// Config holds the engine's settings.
type Config struct {
	// ExternalURL is the server's base URL, used in web_url and CI_* variables.
	ExternalURL string
	// ReposDir holds the bare repositories, as <ReposDir>/<project id>.git.
	ReposDir string
	// MaxTraceSize bounds a job log in bytes (0 = unlimited).
	MaxTraceSize int64
	// MaxDepth is how many levels of child pipelines may exist under a root.
	MaxDepth int
	// RemoteIncludeTimeout bounds one include:remote fetch (default 10s).
	RemoteIncludeTimeout time.Duration
	// HTTPClient fetches include:remote files; nil is http.DefaultClient.
	HTTPClient *http.Client
	// HoldPushPipelines keeps recorded pushes from becoming pipelines
	// (CreatePushPipelines does nothing): crash tests use it to stop a
	// coordinator between a push's acknowledgement and its pipelines.
	HoldPushPipelines bool
	// AllowLocalRequests lets include:remote reach this host and private,
	// link-local and shared networks (GitLab's
	// allow_local_requests_from_web_hooks_and_services, off by default).
	AllowLocalRequests bool
}

// Service is the CI engine.
type Service struct {
	store store.Store
	blobs blob.Store
	cfg   Config
	log   *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time

	locks [64]sync.Mutex
	// reportLocks serialise external status reports per commit.
	reportLocks [16]sync.Mutex
	// coalesce merges concurrent processing requests of runner reports.
	coalesce coalescer
	// sched caches decoded scheduling data by job id.
	sched schedCache
	// plans caches compiled configurations (see planCache).
	plans planCache
	// commits caches stored commit rows for job variables.
	commits commitCache
	// codeAccess checks include:project and include:component reads.
	codeAccess CodeAccess
	// scheduleAccess checks a pipeline schedule's users.
	scheduleAccess ScheduleAccess
	// pushLocks serialise one project's push pipelines in this process.
	pushLocks pushLocks
	// lastTempSweep is when the sweeper last removed stale upload
	// temporaries (UnixNano; 0 before the first sweep).
	lastTempSweep atomic.Int64
	// obs records pipeline creation, processing and background work.
	obs Observer
}

// Observer is told what the engine does, for the metrics.
type Observer interface {
	// PipelineCreated is a pipeline stored by Create, which took d.
	PipelineCreated(source string, d time.Duration)
	// PipelineConfigError is a creation that met a .gitlab-ci.yml error.
	PipelineConfigError(source string)
	// PipelineProcessed is one Process call (Ci::ProcessPipelineService).
	PipelineProcessed(d time.Duration)
	// BackgroundRun is one run of a sweep task with its error count.
	BackgroundRun(task string, d time.Duration, errs int)
}

type nopObserver struct{}

func (nopObserver) PipelineCreated(string, time.Duration)    {}
func (nopObserver) PipelineConfigError(string)               {}
func (nopObserver) PipelineProcessed(time.Duration)          {}
func (nopObserver) BackgroundRun(string, time.Duration, int) {}

// SetObserver sets the observer (the metrics); call before serving.
func (s *Service) SetObserver(o Observer) {
	if o == nil {
		o = nopObserver{}
	}
	s.obs = o
}

// New returns an engine.
func New(st store.Store, blobs blob.Store, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxDepth == 0 {
		cfg.MaxDepth = 2
	}
	return &Service{store: st, blobs: blobs, cfg: cfg, log: log, Now: func() time.Time { return time.Now().UTC() },
		obs: nopObserver{}}
}

// Repo returns the bare repository of a project.
func (s *Service) Repo(projectID int64) *gitrepo.Repo {
	return gitrepo.Open(s.RepoDir(projectID))
}

// RepoDir is where a project's bare repository lives.
func (s *Service) RepoDir(projectID int64) string {
	return filepath.Join(s.cfg.ReposDir, strconv.FormatInt(projectID, 10)+".git")
}

// lock serialises processing of one pipeline within this process; across
// coordinators the compare-and-set updates keep processing correct.
func (s *Service) lock(pipelineID int64) func() {
	h := fnv.New32a()
	_, _ = fmt.Fprint(h, pipelineID)
	m := &s.locks[h.Sum32()%uint32(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// ExternalURL is the configured base URL.
func (s *Service) ExternalURL() string { return s.cfg.ExternalURL }

// transition fires ev on j, records the implied timestamps, applies mutate
// and stores the result if j still has the status it was read with.
func (s *Service) transition(ctx context.Context, j *ci.Job, ev ci.Event, g ci.Guards, mutate func(*ci.Job)) error {
	return s.move(ctx, j, g, mutate, ev)
}

// move is the engine's one way to change a job's status outside
// processing: the status machine fires evs in turn (ci.Job.FireAll), mutate
// adjusts the result, and the store writes it in one unit of work that
// compare-and-sets the status, marks the pipeline for processing and
// publishes the change. On any error j is left as it was.
func (s *Service) move(ctx context.Context, j *ci.Job, g ci.Guards, mutate func(*ci.Job), evs ...ci.Event) error {
	if g.Now.IsZero() {
		g.Now = s.Now()
	}
	saved := *j
	from, err := j.FireAll(g, evs...)
	if err != nil {
		return err
	}
	if mutate != nil {
		mutate(j)
	}
	if err := s.store.UpdateJob(ctx, j, from); err != nil {
		*j = saved
		return err
	}
	return nil
}

// moveBridge moves a bridge to the status its downstream pipeline asks
// for, through the bridge events that lead there (ci.BridgeEvents). A lost
// compare-and-set is not an error: whoever moved the bridge first wins, and
// processing follows that.
func (s *Service) moveBridge(ctx context.Context, b *ci.Job, to ci.Status, mutate func(*ci.Job)) error {
	evs := ci.BridgeEvents(b.Status, to)
	if len(evs) == 0 {
		return nil
	}
	if err := s.move(ctx, b, ci.Guards{}, mutate, evs...); err != nil {
		if isStale(err) {
			return nil
		}
		return err
	}
	// A bridge failing counts as a job failure for on_job_failure: all
	// (Ci::Bridge#can_auto_cancel_pipeline_on_job_failure? is true).
	return s.cancelOnJobFailure(ctx, b, false)
}

// isStale reports a lost compare-and-set.
func isStale(err error) bool { return errors.Is(err, store.ErrStale) }

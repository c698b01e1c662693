package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/postgres"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/sqlstore"
)

// seedYAML is the configuration behind every seeded pipeline: 20 jobs in
// three stages. Seeded jobs carry its compiled definitions, as real ones do.
const seedYAML = `
stages: [build, test, deploy]
variables:
  GO_VERSION: "1.26"
  CGO_ENABLED: "0"
.go:
  image: golang:$GO_VERSION
  tags: [linux]
  before_script:
    - go version
    - go env
  cache:
    key: go-mod
    paths: [.cache/go-mod]
build-linux:
  extends: .go
  stage: build
  script: [go build -o bin/app-linux ./cmd/app]
  artifacts: {paths: [bin/], expire_in: 30 days}
build-darwin:
  extends: .go
  stage: build
  script: [GOOS=darwin go build -o bin/app-darwin ./cmd/app]
  artifacts: {paths: [bin/], expire_in: 30 days}
build-windows:
  extends: .go
  stage: build
  script: [GOOS=windows go build -o bin/app.exe ./cmd/app]
  artifacts: {paths: [bin/], expire_in: 30 days}
docker-image:
  stage: build
  tags: [docker]
  script: [docker build -t registry.example.com/app:$CI_COMMIT_SHORT_SHA ., docker push registry.example.com/app:$CI_COMMIT_SHORT_SHA]
unit:
  extends: .go
  stage: test
  parallel: 7
  script: [go test -coverprofile=cover.out ./..., go tool cover -func=cover.out]
  coverage: '/total:\s+\(statements\)\s+(\d+.\d+)%/'
  artifacts: {reports: {junit: report.xml}}
integration:
  extends: .go
  stage: test
  script: [go test -tags integration ./tests/...]
  retry: 1
vet:
  extends: .go
  stage: test
  script: [go vet ./...]
lint:
  extends: .go
  stage: test
  allow_failure: true
  script: [golangci-lint run]
race:
  extends: .go
  stage: test
  script: [go test -race ./internal/...]
e2e:
  extends: .go
  stage: test
  timeout: 30m
  script: [./scripts/e2e.sh]
deploy-staging:
  stage: deploy
  script: [./deploy.sh staging]
  environment: staging
review:
  stage: deploy
  script: [./deploy.sh review]
deploy-production:
  stage: deploy
  when: manual
  script: [./deploy.sh production]
pages:
  stage: deploy
  script: [mkdir public, cp -r docs/* public/]
  artifacts: {paths: [public]}
`

// seedDefs compiles seedYAML once.
func seedDefs() ([]*ciconfig.Job, [][]byte, error) {
	plan, err := ciconfig.Compile(context.Background(), ciconfig.Source{Content: []byte(seedYAML), Ref: "main", PipelineSource: "push"})
	if err != nil {
		return nil, nil, fmt.Errorf("compile seed config: %w", err)
	}
	var defs [][]byte
	for _, j := range plan.Jobs {
		b, err := json.Marshal(j)
		if err != nil {
			return nil, nil, err
		}
		defs = append(defs, b)
	}
	return plan.Jobs, defs, nil
}

// seedInfo is what later phases need to know about a seeded database.
type seedInfo struct {
	Jobs         int64   `json:"jobs"`
	Pipelines    int64   `json:"pipelines"`
	Artifacts    int64   `json:"artifacts"`
	ProjectID    int64   `json:"project_id"`
	MidJobID     int64   `json:"mid_job_id"`
	MidPipeline  int64   `json:"mid_pipeline_id"`
	TraceJobID   int64   `json:"trace_job_id"`              // finished, 1 MB archived job.log
	LiveJobID    int64   `json:"live_job_id"`               // running, 1 MB live trace
	DBBytes      int64   `json:"db_bytes"`                  // size of gantry.db (+wal), or of the PostgreSQL schema
	Database     string  `json:"database,omitempty"`        // "postgres" when seeded into PostgreSQL
	AnalyzeSecs  float64 `json:"analyze_seconds,omitempty"` // PostgreSQL: VACUUM (ANALYZE) after the load
	Seconds      float64 `json:"seconds"`                   // seeding time
	JobsPerSec   float64 `json:"jobs_per_second"`
	LastJobID    int64   `json:"last_job_id"`
	OffsetPage   int     `json:"deep_offset_page"` // per_page=100 page in the middle
	KeysetCursor int64   `json:"deep_keyset_id"`   // cursor id in the middle
}

// seedOpts sizes a seed.
type seedOpts struct {
	Jobs      int64
	RootToken string
	Dir       string // data dir: gantry.db (SQLite) and blobs/
	// Database, when set, is the postgres:// URL (with its search_path
	// schema, created empty by the caller) to seed instead of SQLite.
	Database string
}

const jobsPerPipeline = 20

// seed creates Dir/gantry.db with root + token, users, runners and a project
// holding o.Jobs jobs in pipelines of 20, with artifacts and logs.
func seed(ctx context.Context, o seedOpts) (*seedInfo, error) {
	start := time.Now()
	if err := os.RemoveAll(o.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	var db *sqlstore.DB
	var err error
	if o.Database != "" {
		db, err = postgres.Open(ctx, o.Database)
	} else {
		db, err = sqlite.Open(ctx, filepath.Join(o.Dir, "gantry.db"))
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	planJobs, defs, err := seedDefs()
	if err != nil {
		return nil, err
	}
	if len(planJobs) != jobsPerPipeline {
		return nil, fmt.Errorf("seed config has %d jobs, want %d", len(planJobs), jobsPerPipeline)
	}

	// Root (id 1) and its token, so `gantry serve` bootstraps nothing new.
	root := &ci.User{Username: "root", Name: "Administrator", Email: "admin@example.com", Admin: true}
	if err := db.CreateUser(ctx, root); err != nil {
		return nil, err
	}
	if err := db.CreateToken(ctx, &ci.PersonalAccessToken{UserID: root.ID, Name: "bench", Scopes: []string{ci.ScopeAPI}},
		auth.Digest(o.RootToken)); err != nil {
		return nil, err
	}
	var userIDs []int64
	for i := range 50 {
		u := &ci.User{Username: fmt.Sprintf("dev%02d", i), Name: fmt.Sprintf("Developer %d", i), Email: fmt.Sprintf("dev%02d@example.com", i)}
		if err := db.CreateUser(ctx, u); err != nil {
			return nil, err
		}
		userIDs = append(userIDs, u.ID)
	}
	type rm struct{ runner, manager int64 }
	var runners []rm
	for i := range 10 {
		tok := auth.NewToken(auth.PrefixRunner, 24)
		r := &ci.Runner{Description: fmt.Sprintf("seed-runner-%d", i), RunnerType: ci.RunnerInstance, Tags: []string{"linux", "docker"},
			RunUntagged: true, TokenPrefix: tok[:8]}
		if err := db.CreateRunner(ctx, r, auth.Digest(tok)); err != nil {
			return nil, err
		}
		m := &ci.RunnerManager{RunnerID: r.ID, SystemID: fmt.Sprintf("s_seed%06d", i), Version: "17.11.0", Revision: "abcdef12",
			Platform: "linux", Architecture: "amd64", IPAddress: "10.0.0.1"}
		if err := db.UpsertRunnerManager(ctx, m); err != nil {
			return nil, err
		}
		runners = append(runners, rm{r.ID, m.ID})
	}
	p := &ci.Project{Namespace: "root", Path: "big", Name: "big", Visibility: ci.VisibilityPrivate, DefaultBranch: "main", CreatorID: root.ID}
	if err := db.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	for _, uid := range userIDs {
		if err := db.SetMember(ctx, &ci.Member{ProjectID: p.ID, UserID: uid, AccessLevel: ci.Developer}); err != nil {
			return nil, err
		}
	}

	nPipes := (o.Jobs + jobsPerPipeline - 1) / jobsPerPipeline
	info := &seedInfo{ProjectID: p.ID}
	rng := rand.New(rand.NewPCG(1, uint64(o.Jobs)))
	base := time.Now().UTC().Add(-time.Duration(nPipes) * 2 * time.Minute)
	blobs := filepath.Join(o.Dir, "blobs")
	traceK, liveK := nPipes/2, nPipes-1 // pipeline indexes holding the 1 MB logs

	// Batches are built here and written by one goroutine, overlapping
	// row building with SQLite's work.
	type batch struct {
		ps      []*ci.Pipeline
		jobs    [][]*ci.Job
		commits []*store.Commit
	}
	const perBatch = 1000 // pipelines (20,000 jobs) per transaction
	batches := make(chan *batch, 2)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		rng := rand.New(rand.NewPCG(2, uint64(o.Jobs))) // this goroutine's own
		for b := range batches {
			if err := db.BulkSaveCommits(ctx, p.ID, b.commits); err != nil {
				errc <- err
				return
			}
			if err := db.BulkInsertPipelines(ctx, b.ps, b.jobs); err != nil {
				errc <- err
				return
			}
			var arts []*ci.Artifact
			for i, pl := range b.ps {
				for _, j := range b.jobs[i] {
					if pl.IID-1 == traceK && j.Name == "integration" {
						info.TraceJobID = j.ID
					}
					if pl.IID-1 == liveK && j.Status == ci.StatusRunning && info.LiveJobID == 0 {
						info.LiveJobID = j.ID
					}
					arts = append(arts, seedArtifacts(j, rng)...)
				}
			}
			if err := db.BulkInsertArtifacts(ctx, arts); err != nil {
				errc <- err
				return
			}
			info.Artifacts += int64(len(arts))
			info.LastJobID = b.jobs[len(b.jobs)-1][len(b.jobs[len(b.jobs)-1])-1].ID
		}
	}()
	b := &batch{}
	var made int64
	send := func() bool {
		select {
		case batches <- b:
			b = &batch{}
			return true
		case err := <-errc:
			if err != nil {
				errc <- err
			}
			return false
		}
	}
	for k := range nPipes {
		n := min(int64(jobsPerPipeline), o.Jobs-made)
		pl, jobs, commit := seedPipeline(k, nPipes, n, p.ID, base, userIDs, rng, planJobs, defs, func(i int64) (int64, int64) {
			r := runners[i%int64(len(runners))]
			return r.runner, r.manager
		})
		made += n
		b.ps = append(b.ps, pl)
		b.jobs = append(b.jobs, jobs)
		if commit != nil {
			b.commits = append(b.commits, commit)
		}
		if len(b.ps) == perBatch {
			if !send() {
				break
			}
		}
	}
	if len(b.ps) > 0 {
		send()
	}
	close(batches)
	if err := <-errc; err != nil {
		return nil, err
	}
	info.Jobs, info.Pipelines = made, nPipes

	// The 1 MB archived log of a finished job, and a 1 MB live log.
	if info.TraceJobID != 0 {
		key := fmt.Sprintf("traces/%d/%d/job.log", p.ID, info.TraceJobID)
		path := filepath.Join(blobs, key)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, logBytes(1<<20, 7), 0o644); err != nil {
			return nil, err
		}
		// The seeded trace row for this job points at key; fix its size.
		if _, err := db.DeleteArtifacts(ctx, info.TraceJobID, "trace"); err != nil {
			return nil, err
		}
		if err := db.CreateArtifact(ctx, &ci.Artifact{JobID: info.TraceJobID, ProjectID: p.ID, FileType: "trace", FileFormat: "raw",
			Filename: "job.log", Size: 1 << 20, BlobKey: key}); err != nil {
			return nil, err
		}
	}
	if info.LiveJobID != 0 {
		data := logBytes(1<<20, 8)
		for off := 0; off < len(data); off += 4096 {
			if _, err := db.AppendTrace(ctx, info.LiveJobID, int64(off), data[off:off+4096], 0); err != nil {
				return nil, err
			}
		}
	}
	info.MidJobID = info.LastJobID / 2
	info.MidPipeline = nPipes / 2
	info.KeysetCursor = info.LastJobID / 2
	info.OffsetPage = int(made/100/2) + 1
	info.Seconds = time.Since(start).Seconds()
	info.JobsPerSec = float64(made) / info.Seconds
	if err := db.Close(); err != nil {
		return nil, err
	}
	if o.Database != "" {
		t0 := time.Now()
		size, err := analyzeSchema(ctx, o.Database)
		if err != nil {
			return nil, err
		}
		info.Database, info.DBBytes, info.AnalyzeSecs = "postgres", size, time.Since(t0).Seconds()
		return info, nil
	}
	for _, f := range []string{"gantry.db", "gantry.db-wal"} {
		if st, err := os.Stat(filepath.Join(o.Dir, f)); err == nil {
			info.DBBytes += st.Size()
		}
	}
	return info, nil
}

func sha(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// seedPipeline builds pipeline k (oldest first) with n jobs and realistic
// statuses: the last 3 are running, the rest success (85%), failed (10%) or
// canceled (5%). Every second pipeline brings a new commit.
func seedPipeline(k, total, n, projectID int64, base time.Time, users []int64, rng *rand.Rand,
	planJobs []*ciconfig.Job, defs [][]byte, runnerOf func(int64) (int64, int64)) (*ci.Pipeline, []*ci.Job, *store.Commit) {
	created := base.Add(time.Duration(k) * 2 * time.Minute)
	ref := "main"
	if k%10 >= 7 {
		ref = fmt.Sprintf("feature/topic-%d", k/50)
	}
	commitN := k / 2
	sh := sha(fmt.Sprintf("commit-%d", commitN))
	user := users[rng.IntN(len(users))]
	var commit *store.Commit
	if k%2 == 0 {
		title := fmt.Sprintf("Change %d: improve the thing", commitN)
		commit = &store.Commit{ID: sh, ShortID: sh[:8], Title: title, Message: title + "\n\nLonger description of the change.\n",
			ParentIDs: []string{sha(fmt.Sprintf("commit-%d", commitN-1))}, AuthorName: "Dev", AuthorEmail: "dev@example.com",
			AuthoredDate: created.Add(-time.Minute), CommitterName: "Dev", CommitterEmail: "dev@example.com",
			CommittedDate: created.Add(-time.Minute), Trailers: map[string]string{}}
	}
	committed := created.Add(-time.Minute)
	pl := &ci.Pipeline{ProjectID: projectID, Ref: ref, SHA: sh, BeforeSHA: sha(fmt.Sprintf("commit-%d", commitN-1)), Source: "push",
		UserID: user, CreatedAt: created, CommittedAt: &committed, Protected: ref == "main"}
	outcome := ci.StatusSuccess
	switch r := rng.Float64(); {
	case k >= total-3:
		outcome = ci.StatusRunning
	case r < 0.85:
	case r < 0.95:
		outcome = ci.StatusFailed
	default:
		outcome = ci.StatusCanceled
	}
	failAt := 4 + rng.IntN(12) // the failing test job of a failed pipeline
	runner, manager := runnerOf(k)
	jobs := make([]*ci.Job, 0, n)
	var end time.Time
	for i := range n {
		pj := planJobs[i]
		j := &ci.Job{Kind: ci.KindBuild, Name: pj.Name, Stage: pj.Stage, StageIdx: pj.StageIdx, Ref: ref, When: pj.When,
			AllowFailure: pj.AllowFailure, UserID: user, CreatedAt: created, Tags: pj.Tags, Definition: defs[i],
			Interruptible: pj.Interruptible}
		if j.When == "" {
			j.When = ci.WhenOnSuccess
		}
		if j.Tags == nil {
			j.Tags = []string{}
		}
		stage := pj.StageIdx // 1 build, 2 test, 3 deploy (0 is .pre)
		queued := created.Add(time.Duration(stage-1) * 5 * time.Minute)
		st := ci.StatusSuccess
		switch outcome {
		case ci.StatusFailed:
			switch {
			case int(i) == failAt:
				st = ci.StatusFailed
			case stage == 3:
				st = ci.StatusSkipped
			}
		case ci.StatusCanceled:
			switch stage {
			case 2:
				st = ci.StatusCanceled
			case 3:
				st = ci.StatusSkipped
			}
		case ci.StatusRunning:
			switch stage {
			case 2:
				st = ci.StatusRunning
				if i%2 == 1 {
					st = ci.StatusPending
					// Waits for a runner with this tag; the bench's runners
					// have none, so they never take seeded jobs.
					j.Tags = []string{"seeded-only"}
				}
			case 3:
				st = ci.StatusCreated
			}
		}
		if st == ci.StatusSuccess && j.When == ci.WhenManual {
			st = ci.StatusManual
		}
		if st == ci.StatusSuccess && j.Name == "lint" && rng.IntN(10) == 0 {
			st = ci.StatusFailed // allow_failure: a warning
		}
		j.Status = st
		switch st {
		case ci.StatusSuccess, ci.StatusFailed, ci.StatusRunning:
			started := queued.Add(time.Duration(2+rng.IntN(20)) * time.Second)
			j.QueuedAt, j.StartedAt = &queued, &started
			j.RunnerID, j.RunnerManagerID, j.Timeout = runner, manager, 3600
			if st != ci.StatusRunning {
				fin := started.Add(time.Duration(30+rng.IntN(270)) * time.Second)
				j.FinishedAt = &fin
				code := 0
				if st == ci.StatusFailed {
					code = 1
					j.FailureReason = "script_failure"
				}
				j.ExitCode = &code
				if fin.After(end) {
					end = fin
				}
			}
			if strings.HasPrefix(j.Name, "unit") && st == ci.StatusSuccess {
				c := 70 + rng.Float64()*25
				j.Coverage = &c
			}
		case ci.StatusPending:
			j.QueuedAt = &queued
		case ci.StatusCanceled:
			fin := queued.Add(time.Minute)
			j.FinishedAt = &fin
		}
		if stage == 1 && st == ci.StatusSuccess && strings.HasPrefix(j.Name, "build-") {
			exp := created.Add(30 * 24 * time.Hour)
			j.ArtifactsExpireAt = &exp
		}
		j.UpdatedAt = created
		if j.FinishedAt != nil {
			j.UpdatedAt = *j.FinishedAt
		}
		jobs = append(jobs, j)
	}
	pl.Status = outcome
	started := created.Add(3 * time.Second)
	pl.StartedAt = &started
	if outcome != ci.StatusRunning {
		if end.IsZero() {
			end = created.Add(10 * time.Minute)
		}
		pl.FinishedAt = &end
		pl.UpdatedAt = end
	}
	return pl, jobs, commit
}

// seedArtifacts gives a finished job its archived log, and a successful
// build job its archive and metadata.
func seedArtifacts(j *ci.Job, rng *rand.Rand) []*ci.Artifact {
	if j.Status != ci.StatusSuccess && j.Status != ci.StatusFailed {
		return nil
	}
	at := *j.FinishedAt
	out := []*ci.Artifact{{JobID: j.ID, ProjectID: j.ProjectID, FileType: "trace", FileFormat: "raw", Filename: "job.log",
		Size: int64(5000 + rng.IntN(200000)), BlobKey: fmt.Sprintf("traces/%d/%d/job.log", j.ProjectID, j.ID), CreatedAt: at}}
	if j.ArtifactsExpireAt != nil {
		out = append(out,
			&ci.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: "archive", FileFormat: "zip", Filename: "artifacts.zip",
				Size: int64(1<<20 + rng.IntN(50<<20)), BlobKey: fmt.Sprintf("artifacts/%d/%d/archive-seed", j.ProjectID, j.ID),
				ExpireAt: j.ArtifactsExpireAt, CreatedAt: at},
			&ci.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: "metadata", FileFormat: "gzip", Filename: "metadata.gz",
				Size: int64(200 + rng.IntN(2000)), BlobKey: fmt.Sprintf("artifacts/%d/%d/metadata-seed", j.ProjectID, j.ID),
				ExpireAt: j.ArtifactsExpireAt, CreatedAt: at})
	}
	return out
}

// logBytes is n bytes of job-log-like text, deterministic for seed.
func logBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	var b bytes.Buffer
	b.Grow(n + 128)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "\x1b[0;m%06d ok  \tgithub.com/example/app/pkg%d\t%d.%03ds\tcoverage: %d.%d%% of statements\n",
			i, rng.IntN(100), rng.IntN(10), rng.IntN(1000), rng.IntN(100), rng.IntN(10))
	}
	return b.Bytes()[:n]
}

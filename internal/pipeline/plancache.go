package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/store"
)

// planCache keeps compiled configurations. ciconfig.Compile is a pure
// function of its Source: the data fields (content, the variables rules
// see, changed files, ref, source, inputs) and whatever it reads through
// the callbacks (local, project, remote and artifact includes,
// rules:exists, rules:changes:compare_to). Every callback field of Source
// is wrapped below (TestPlanCacheWrapsEveryCallback keeps it so). A
// compilation that called none of them depends on the data alone, so a
// later creation with equal data (the same commit, variables and source:
// API calls, schedules, triggers in a row) reuses its plan. Rules are
// evaluated against the variables, which is why all of them are in the
// key. Cached plans are shared and never modified: plans whose jobs need
// cache:key:files computed per commit are not kept.
type planCache struct {
	mu sync.Mutex
	m  map[[32]byte]*ciconfig.Plan
}

const planCacheMax = 256

// compile is ciconfig.Compile through the plan cache. The plan returned
// must not be modified.
func (s *Service) compile(ctx context.Context, src ciconfig.Source) (*ciconfig.Plan, error) {
	key, ok := planKey(src)
	if ok {
		s.plans.mu.Lock()
		plan := s.plans.m[key]
		s.plans.mu.Unlock()
		if plan != nil {
			return plan, nil
		}
	}
	var used atomic.Bool // includes may be read concurrently
	if src.ReadFile != nil {
		read := src.ReadFile
		src.ReadFile = func(p string) ([]byte, error) { used.Store(true); return read(p) }
	}
	if src.Exists != nil {
		exists := src.Exists
		src.Exists = func(g string) bool { used.Store(true); return exists(g) }
	}
	if src.ReadArtifact != nil {
		read := src.ReadArtifact
		src.ReadArtifact = func(job, p string) ([]byte, error) { used.Store(true); return read(job, p) }
	}
	if src.ChangedSince != nil {
		changed := src.ChangedSince
		src.ChangedSince = func(ref string) ([]string, error) { used.Store(true); return changed(ref) }
	}
	if src.FetchRemote != nil {
		fetch := src.FetchRemote
		src.FetchRemote = func(u string) ([]byte, error) { used.Store(true); return fetch(u) }
	}
	if src.Projects != nil {
		src.Projects = usedProjects{src.Projects, &used}
	}
	plan, err := ciconfig.Compile(ctx, src)
	if err != nil || !ok || used.Load() || hasKeyFiles(plan) {
		return plan, err
	}
	s.plans.mu.Lock()
	if s.plans.m == nil || len(s.plans.m) >= planCacheMax {
		s.plans.m = map[[32]byte]*ciconfig.Plan{}
	}
	s.plans.m[key] = plan
	s.plans.mu.Unlock()
	return plan, nil
}

// planKey hashes the data fields of src; false when they cannot be keyed.
func planKey(src ciconfig.Source) ([32]byte, bool) {
	var key [32]byte
	inputs, err := json.Marshal(src.Inputs) // maps encode with sorted keys
	if err != nil {
		return key, false
	}
	h := sha256.New()
	field := func(b []byte) {
		writeLen(h, len(b))
		h.Write(b)
	}
	field(src.Content)
	names := make([]string, 0, len(src.Variables))
	for k := range src.Variables {
		names = append(names, k)
	}
	slices.Sort(names)
	writeLen(h, len(names))
	for _, k := range names {
		field([]byte(k))
		field([]byte(src.Variables[k]))
	}
	// nil (unknown) and empty (nothing changed) differ for rules:changes.
	if src.ChangedFiles == nil {
		writeLen(h, -1)
	} else {
		writeLen(h, len(src.ChangedFiles))
		for _, f := range src.ChangedFiles {
			field([]byte(f))
		}
	}
	field([]byte(src.Ref))
	if src.Tag {
		writeLen(h, 1)
	} else {
		writeLen(h, 0)
	}
	field([]byte(src.PipelineSource))
	field(inputs)
	h.Sum(key[:0])
	return key, true
}

func writeLen(h hash.Hash, n int) { _ = binary.Write(h, binary.LittleEndian, int64(n)) }

func hasKeyFiles(plan *ciconfig.Plan) bool {
	for _, j := range plan.Jobs {
		for _, c := range j.Cache {
			if len(c.KeyFiles) > 0 {
				return true
			}
		}
	}
	return false
}

// usedProjects notes that the compiler read another project.
type usedProjects struct {
	ciconfig.Projects
	used *atomic.Bool
}

func (u usedProjects) ResolveRef(project, ref string) (string, error) {
	u.used.Store(true)
	return u.Projects.ResolveRef(project, ref)
}

func (u usedProjects) ReadFile(project, sha, path string) ([]byte, error) {
	u.used.Store(true)
	return u.Projects.ReadFile(project, sha, path)
}

func (u usedProjects) Tags(project string) ([]string, error) {
	u.used.Store(true)
	return u.Projects.Tags(project)
}

// commitCache keeps the stored commit rows job variables are built from: a
// row is named by its sha and never changes, and every job of a pipeline
// asks for the same one.
type commitCache struct {
	mu sync.Mutex
	m  map[commitKey]*store.Commit
}

type commitKey struct {
	project int64
	sha     string
}

const commitCacheMax = 1024

// commitRow is the stored commit sha of a project (nil when not stored);
// the result is shared and must not be modified.
func (s *Service) commitRow(ctx context.Context, projectID int64, sha string) (*store.Commit, error) {
	got, err := s.CommitRows(ctx, projectID, []string{sha})
	if err != nil {
		return nil, err
	}
	return got[sha], nil
}

// CommitRows returns the stored commits of a project among shas, keyed by
// sha (the ones not stored are absent), through the commit cache: the
// misses are read in one query. The rows are shared and must not be
// modified. Job entities embed them, so a page of jobs reads them here.
func (s *Service) CommitRows(ctx context.Context, projectID int64, shas []string) (map[string]*store.Commit, error) {
	out := make(map[string]*store.Commit, len(shas))
	var missing []string
	s.commits.mu.Lock()
	for _, sha := range shas {
		if c := s.commits.m[commitKey{projectID, sha}]; c != nil {
			out[sha] = c
		} else {
			missing = append(missing, sha)
		}
	}
	s.commits.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	got, err := s.store.CommitsBySHA(ctx, projectID, missing)
	if err != nil {
		return nil, err
	}
	s.commits.mu.Lock()
	defer s.commits.mu.Unlock()
	for sha, c := range got {
		out[sha] = c
		if s.commits.m == nil || len(s.commits.m) >= commitCacheMax {
			s.commits.m = map[commitKey]*store.Commit{}
		}
		s.commits.m[commitKey{projectID, sha}] = c
	}
	return out, nil
}

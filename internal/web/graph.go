package web

import (
	"context"
	"github.com/gantryci/gantry/internal/access"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// jobNode is a job as the graph and lists show it.
type jobNode struct {
	Job      *ci.Job
	Duration time.Duration
	Needs    []string
	// Can* are the actions the viewer may take now (policy and state).
	CanRetry, CanCancel, CanPlay bool
	Bridge                       bool
	// Downstream is the bridge's child pipeline id, 0 if none.
	Downstream int64
}

// stageCol is one column of the pipeline graph.
type stageCol struct {
	Name   string
	Status ci.Status
	Jobs   []jobNode
}

// graphView is a pipeline with its stages, for the graph and the mini graph.
type graphView struct {
	Project  *ci.Project
	Pipeline *ci.Pipeline
	Stages   []stageCol
	// DAG is true when some job has needs.
	DAG bool
}

// stages groups a pipeline's latest jobs into stage columns with their
// composite status, and says which actions the viewer may take.
func (s *Server) stages(pg *page, p *ci.Project, pl *ci.Pipeline, actions bool) (graphView, error) {
	jobs, err := s.st.ListJobs(pg.ctx(), store.JobFilter{PipelineID: pl.ID, LatestOnly: true, Asc: true, Limit: 2000})
	if err != nil {
		return graphView{}, err
	}
	var lvl ci.AccessLevel
	if actions {
		// One role lookup; the per-job rules need no I/O.
		if lvl, err = s.policy.Role(pg.ctx(), pg.caller(), p); err != nil {
			return graphView{}, err
		}
	}
	may := func(j *ci.Job, a access.Action) bool {
		return actions && access.AllowedJob(pg.caller(), p, lvl, j, a) == nil
	}
	g := graphView{Project: p, Pipeline: pl}
	byIdx := map[int]int{}
	var items [][]ci.StatusItem
	now := s.now()
	for _, j := range jobs {
		i, ok := byIdx[j.StageIdx]
		if !ok {
			i = len(g.Stages)
			byIdx[j.StageIdx] = i
			g.Stages = append(g.Stages, stageCol{Name: j.Stage})
			items = append(items, nil)
		}
		n := s.node(j, now)
		if actions {
			v := pipeline.View(j, nil)
			n.CanRetry = may(j, access.UpdateBuild) && v.Retryable()
			n.CanCancel = may(j, access.CancelBuild) && v.Cancelable()
			n.CanPlay = may(j, access.PlayBuild) && v.Playable()
		}
		if len(n.Needs) > 0 {
			g.DAG = true
		}
		g.Stages[i].Jobs = append(g.Stages[i].Jobs, n)
		items[i] = append(items[i], ci.StatusItem{Status: j.Status, AllowFailure: j.AllowFailure})
	}
	for i := range g.Stages {
		g.Stages[i].Status = ci.CompositeStatus(items[i], false)
	}
	return g, nil
}

func (s *Server) node(j *ci.Job, now time.Time) jobNode {
	n := jobNode{Job: j, Bridge: j.Kind == ci.KindBridge, Downstream: j.DownstreamPipelineID}
	if d := ci.Duration(j.StartedAt, j.FinishedAt, now); d != nil {
		n.Duration = time.Duration(*d * float64(time.Second))
	}
	if def, err := pipeline.Definition(j); err == nil {
		for _, nd := range def.Needs {
			if nd.Pipeline == "" && nd.Project == "" {
				n.Needs = append(n.Needs, nd.Job)
			}
		}
	}
	return n
}

// pipelineDuration is the pipeline's run time so far.
func pipelineDuration(pl *ci.Pipeline, now time.Time) time.Duration {
	if d := ci.Duration(pl.StartedAt, pl.FinishedAt, now); d != nil {
		return time.Duration(*d * float64(time.Second))
	}
	return 0
}

// users loads the users of ids at once.
func (s *Server) users(ctx context.Context, ids []int64) (map[int64]*ci.User, error) {
	if len(ids) == 0 {
		return map[int64]*ci.User{}, nil
	}
	return s.st.UsersByIDs(ctx, ids)
}

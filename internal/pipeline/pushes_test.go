package pipeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/testkit"
)

// TestPushPipelinesFromRecord: a recorded push becomes one pipeline per
// change owed one, whoever creates them: a coordinator holding its push
// pipelines creates none, and two coordinators (engines on one store)
// working at once create each once. A branch without a CI config and a
// deletion get none, and nothing is left recorded.
func TestPushPipelinesFromRecord(t *testing.T) { testkit.ForEachDB(t, testPushPipelinesFromRecord) }

func testPushPipelinesFromRecord(t *testing.T, db testkit.DB) {
	e, st := newEngineWithRepo(t, db)
	ctx := context.Background()
	e.work.Write(map[string]string{".gitlab-ci.yml": "job:\n  script: echo hi\n"})
	withCI := e.work.Commit("ci")
	e.work.Git("checkout", "-q", "--orphan", "bare")
	e.work.Git("rm", "-q", "-rf", ".")
	e.work.Write(map[string]string{"README": "no CI here\n"})
	withoutCI := e.work.Commit("no ci")
	e.work.Git("push", "-q", e.eng.RepoDir(e.proj.ID), withCI+":refs/heads/main", withCI+":refs/heads/b1",
		withCI+":refs/tags/v1", withoutCI+":refs/heads/bare")
	zero := gitrepo.ZeroSHA
	updates := []pipeline.RefUpdate{
		{Ref: "refs/heads/b1", OldSHA: zero, NewSHA: withCI},
		{Ref: "refs/heads/bare", OldSHA: zero, NewSHA: withoutCI},
		{Ref: "refs/heads/gone", OldSHA: withCI, NewSHA: zero},
		{Ref: "refs/heads/main", OldSHA: zero, NewSHA: withCI},
		{Ref: "refs/tags/v1", OldSHA: zero, NewSHA: withCI}, // fifth: past the limit
	}
	if err := e.eng.RecordPush(ctx, e.proj.ID, 0, updates, []string{"ci.variable=A=1"}); err != nil {
		t.Fatal(err)
	}
	recorded, err := st.RefChanges(ctx, e.proj.ID, 0)
	if err != nil || len(recorded) != 3 {
		t.Fatalf("recorded %d changes (%v), want b1, bare and main", len(recorded), err)
	}

	engine := func(hold bool) *pipeline.Service {
		return pipeline.New(st, e.Blobs, pipeline.Config{ExternalURL: "http://gantry.test",
			ReposDir: filepath.Dir(e.eng.RepoDir(e.proj.ID)), HoldPushPipelines: hold}, e.Log)
	}
	if err := engine(true).CreatePushPipelines(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountPipelines(ctx, store.PipelineFilter{ProjectID: e.proj.ID}); n != 0 {
		t.Fatalf("a holding engine created %d pipelines", n)
	}
	var wg sync.WaitGroup
	for i, eng := range []*pipeline.Service{e.eng, engine(false), engine(false)} {
		wg.Go(func() {
			project := e.proj.ID
			if i == 2 {
				project = 0 // as on start and in the sweeper
			}
			if err := eng.CreatePushPipelines(ctx, project); err != nil {
				t.Errorf("engine %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	pls, err := st.ListPipelines(ctx, store.PipelineFilter{ProjectID: e.proj.ID})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, p := range pls {
		refs = append(refs, p.Ref)
		if len(p.Variables) != 1 || p.Variables[0].Key != "A" || p.Variables[0].Value != "1" {
			t.Errorf("pipeline %s variables = %+v, want the push option's A=1", p.Ref, p.Variables)
		}
	}
	slices.Sort(refs)
	if want := []string{"b1", "main"}; !slices.Equal(refs, want) {
		t.Errorf("pipelines = %v, want %v", refs, want)
	}
	if left, err := st.RefChanges(ctx, 0, 0); err != nil || len(left) != 0 {
		t.Errorf("changes left: %s, %v", fmt.Sprint(left), err)
	}
}

package pipeline

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/store"
)

// TestPlanCache checks that a cached plan is reused only for equal data:
// rules see the variables, the ref and the source, so a change in any of
// them compiles again, and a configuration that reads files (includes) is
// never kept.
func TestPlanCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conf := []byte(`
a:
  script: [echo a]
  rules:
    - if: $DEPLOY == "yes"
b:
  script: [echo b]
  rules:
    - if: $CI_COMMIT_REF_NAME == "main"
c:
  script: [echo c]
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
`)
	inc := []byte("include: local.yml\n")
	names := func(p *ciconfig.Plan) []string {
		var out []string
		for _, j := range p.Jobs {
			out = append(out, j.Name)
		}
		return out
	}
	src := func(vars map[string]string, ref, source string) ciconfig.Source {
		return ciconfig.Source{Content: conf, Variables: vars, Ref: ref, PipelineSource: source}
	}
	s := &Service{}
	reads := 0
	cases := []struct {
		name string
		src  ciconfig.Source
		want []string
	}{
		{"first", src(map[string]string{"DEPLOY": "yes", "CI_COMMIT_REF_NAME": "main"}, "main", "api"), []string{"a", "b"}},
		{"same again", src(map[string]string{"DEPLOY": "yes", "CI_COMMIT_REF_NAME": "main"}, "main", "api"), []string{"a", "b"}},
		{"other variable", src(map[string]string{"DEPLOY": "no", "CI_COMMIT_REF_NAME": "main"}, "main", "api"), []string{"b"}},
		{"other ref", src(map[string]string{"DEPLOY": "yes", "CI_COMMIT_REF_NAME": "dev"}, "dev", "api"), []string{"a"}},
		{"other source", src(map[string]string{"DEPLOY": "yes", "CI_COMMIT_REF_NAME": "main", "CI_PIPELINE_SOURCE": "push"}, "main", "push"), []string{"a", "b", "c"}},
		{"include", ciconfig.Source{Content: inc, ReadFile: func(string) ([]byte, error) { reads++; return conf, nil },
			Variables: map[string]string{"DEPLOY": "yes"}}, []string{"a"}},
		{"include again", ciconfig.Source{Content: inc, ReadFile: func(string) ([]byte, error) { reads++; return conf, nil },
			Variables: map[string]string{"DEPLOY": "yes"}}, []string{"a"}},
	}
	for _, c := range cases {
		plan, err := s.compile(ctx, c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := names(plan); !slices.Equal(got, c.want) {
			t.Errorf("%s: jobs %v, want %v", c.name, got, c.want)
		}
	}
	if reads != 2 {
		t.Errorf("an including config was read %d times, want 2 (never cached)", reads)
	}
	if n := len(s.plans.m); n != 4 {
		t.Errorf("%d plans cached, want 4 (one per distinct data, none with includes)", n)
	}
}

// TestPlanCacheWrapsEveryCallback keeps the plan cache honest: every way
// ciconfig.Compile can read beyond the Source's data fields must be wrapped
// by Service.compile, or a plan that depends on it would be cached.
func TestPlanCacheWrapsEveryCallback(t *testing.T) {
	t.Parallel()
	wrapped := map[string]bool{"ReadFile": true, "Exists": true, "ReadArtifact": true, "ChangedSince": true,
		"FetchRemote": true, "Projects": true}
	st := reflect.TypeFor[ciconfig.Source]()
	for i := range st.NumField() {
		f := st.Field(i)
		if k := f.Type.Kind(); (k == reflect.Func || k == reflect.Interface) && !wrapped[f.Name] {
			t.Errorf("ciconfig.Source.%s reads outside the plan cache's key: wrap it in Service.compile", f.Name)
		}
	}
}

// TestPlanCacheCompareTo: rules:changes:compare_to asks the repository what
// changed since a ref, which is outside the cache key, so two creations with
// equal data but different answers get different plans.
func TestPlanCacheCompareTo(t *testing.T) {
	t.Parallel()
	conf := []byte("a:\n  script: [echo a]\n  rules:\n    - changes:\n        paths: [src/*]\n        compare_to: refs/heads/main\n")
	s := &Service{}
	for _, c := range []struct {
		changed []string
		jobs    int
	}{{[]string{"src/x.go"}, 1}, {[]string{"docs/y.md"}, 0}} {
		src := ciconfig.Source{Content: conf, Ref: "feature", PipelineSource: "push",
			Variables:    map[string]string{"CI_COMMIT_REF_NAME": "feature"},
			ChangedSince: func(string) ([]string, error) { return c.changed, nil }}
		plan, err := s.compile(context.Background(), src)
		jobs := 0
		if plan != nil {
			jobs = len(plan.Jobs)
		}
		if c.jobs == 0 && err == nil && jobs != 0 || c.jobs == 1 && (err != nil || jobs != 1) {
			t.Errorf("changed %v: %d jobs, err %v; want %d jobs", c.changed, jobs, err, c.jobs)
		}
	}
}

// commitStore answers CommitsBySHA from rows and records what it was asked.
type commitStore struct {
	store.Store
	rows  map[string]*store.Commit
	asked [][]string
}

func (c *commitStore) CommitsBySHA(_ context.Context, _ int64, shas []string) (map[string]*store.Commit, error) {
	c.asked = append(c.asked, slices.Clone(shas))
	out := map[string]*store.Commit{}
	for _, sha := range shas {
		if r := c.rows[sha]; r != nil {
			out[sha] = r
		}
	}
	return out, nil
}

// TestCommitRows checks that stored commits are read once per project and
// sha, the misses of a batch in one query, and that absent ones are asked
// again (they may be stored later).
func TestCommitRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &commitStore{rows: map[string]*store.Commit{"a": {ID: "a"}, "b": {ID: "b"}}}
	s := &Service{store: st}
	cases := []struct {
		project int64
		shas    []string
		want    []string
		asked   []string
	}{
		{1, []string{"a"}, []string{"a"}, []string{"a"}},
		{1, []string{"a", "b", "x"}, []string{"a", "b"}, []string{"b", "x"}},
		{1, []string{"b", "a"}, []string{"a", "b"}, nil},
		{1, []string{"x"}, nil, []string{"x"}},
		{2, []string{"a"}, []string{"a"}, []string{"a"}},
	}
	for i, tc := range cases {
		before := len(st.asked)
		got, err := s.CommitRows(ctx, tc.project, tc.shas)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k, c := range got {
			if c.ID != k {
				t.Errorf("case %d: row %q under %q", i, c.ID, k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, tc.want) {
			t.Errorf("case %d: got %v, want %v", i, keys, tc.want)
		}
		var asked []string
		if len(st.asked) > before {
			if len(st.asked) != before+1 {
				t.Errorf("case %d: %d queries, want 1", i, len(st.asked)-before)
			}
			asked = st.asked[before]
		}
		if !slices.Equal(asked, tc.asked) {
			t.Errorf("case %d: asked the store %v, want %v", i, asked, tc.asked)
		}
	}
}

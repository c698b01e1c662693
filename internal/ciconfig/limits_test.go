package ciconfig

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// doublingReferences is a configuration of about 1.2 KB whose references
// of references multiply at each of the ten levels !reference allows:
// expanded, it would be 6^9 copies of a 100-byte string.
func doublingReferences() string {
	var b strings.Builder
	fmt.Fprintf(&b, ".l0: [%q]\n", strings.Repeat("x", 100))
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, ".l%d: [", i)
		for k := range 6 {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "!reference [.l%d]", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("job:\n  script: !reference [.l9]\n")
	return b.String()
}

// TestReferenceExpansionBounded: the doubling configuration answers
// GitLab's total size error, in Lint and in Compile, allocating a few
// few hundred kilobytes rather than gigabytes.
func TestReferenceExpansionBounded(t *testing.T) {
	cfg := doublingReferences()
	if len(cfg) > 1500 {
		t.Fatalf("config is %d bytes", len(cfg))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := Lint(context.Background(), Source{Content: []byte(cfg), Ref: "main", PipelineSource: "push"})
	runtime.ReadMemStats(&after)
	if res.Valid || len(res.Errors) != 1 || res.Errors[0] != msgTotalTooBig {
		t.Fatalf("lint = valid %v errors %q, want %q", res.Valid, res.Errors, msgTotalTooBig)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("lint allocated %d bytes, want at most 8 MiB", alloc)
	}
	if testing.Verbose() {
		t.Logf("lint allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	}
	_, err := Compile(context.Background(), Source{Content: []byte(cfg), Ref: "main", PipelineSource: "push"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Errors[0] != msgTotalTooBig {
		t.Fatalf("compile err = %v, want %q", err, msgTotalTooBig)
	}
}

// TestExpansionWithinLimits: references that fit are expanded and shared,
// and what they stand for is counted in full.
func TestExpansionWithinLimits(t *testing.T) {
	cfg := ".a: [x, y]\n.b: [!reference [.a], !reference [.a]]\njob:\n  script: [!reference [.b], !reference [.b]]\n"
	plan, err := Compile(context.Background(), Source{Content: []byte(cfg), Ref: "main", PipelineSource: "push"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan.Jobs[0].Script, " "); got != "x y x y x y x y" {
		t.Fatalf("script = %q", got)
	}
}

// TestCompileStopsWithContext: a context that ended (a client that went
// away) stops the compilation with ctx's error, not a configuration error,
// in every phase that loops.
func TestCompileStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, cfg := range []string{"job: {script: x}\n", doublingReferences()} {
		_, err := Compile(ctx, Source{Content: []byte(cfg), Ref: "main", PipelineSource: "push"})
		var ce *Error
		if !errors.Is(err, context.Canceled) || errors.As(err, &ce) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if res := Lint(ctx, Source{Content: []byte(cfg)}); res.Valid {
			t.Fatal("lint valid after cancel")
		}
	}
	// Canceled in the middle of the expand phase: the budget looks at the
	// context every checkEvery steps.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	b := newBudget(ctx2)
	var err error
	for i := 0; err == nil && i < 10*checkEvery; i++ {
		if i == checkEvery/2 {
			cancel2()
		}
		err = b.work(1)
	}
	if !errors.Is(err, context.Canceled) || b.steps > 2*checkEvery {
		t.Fatalf("after cancel: err %v at step %d", err, b.steps)
	}
}

// TestConfigDeadline: past Gitlab::Ci::Config::TIMEOUT_SECONDS the answer
// is GitLab's timeout message.
func TestConfigDeadline(t *testing.T) {
	t.Parallel()
	b := newBudget(context.Background())
	b.deadline = time.Now().Add(-time.Second)
	_, err := analyzeWithin(b, Source{Content: []byte("job: {script: x}\n")})
	var ce *Error
	if !errors.As(err, &ce) || ce.Errors[0] != msgTimeout {
		t.Fatalf("err = %v, want %q", err, msgTimeout)
	}
}

// TestIncludedFilesTotalSize: included files count against the total as
// in External::Mapper::Verifier#verify_max_total_pipeline_size!.
func TestIncludedFilesTotalSize(t *testing.T) {
	t.Parallel()
	files := map[string]string{"a.yml": "a: {script: " + strings.Repeat("x", 600) + "}\n",
		"b.yml": "b: {script: " + strings.Repeat("y", 600) + "}\n"}
	src := Source{Content: []byte("include: [a.yml, b.yml]\n"), ReadFile: mapReader(files), Ref: "main", PipelineSource: "push"}
	b := newBudget(context.Background())
	b.maxSize = 1000
	b.maxSteps = b.maxSize / nodeCost
	_, err := analyzeWithin(b, src)
	var ce *Error
	if !errors.As(err, &ce) || ce.Errors[0] != msgTotalTooBig {
		t.Fatalf("err = %v, want %q", err, msgTotalTooBig)
	}
	if _, err := analyzeWithin(newBudget(context.Background()), src); err != nil {
		t.Fatalf("default limits: %v", err)
	}
}

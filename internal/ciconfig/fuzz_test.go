package ciconfig

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzCompile asserts that no input makes Compile or Lint panic.
func FuzzCompile(f *testing.F) {
	for _, dir := range []string{"corpus", "keywords"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.yml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("j:\n  script: !reference [j, script]\n"))
	f.Add([]byte("<<: 1\nj: {script: x, needs: [{job: j, parallel: {matrix: [{A: [1, 2]}]}}]}"))
	files := map[string]string{"a.yml": "include: a.yml\n", "b.yml": "b: {script: x}\n"}
	f.Fuzz(func(t *testing.T, content []byte) {
		src := Source{Content: content, Ref: "main", PipelineSource: "push", ReadFile: mapReader(files),
			Exists: func(string) bool { return true }, ChangedFiles: []string{"a.go"}}
		_, _ = Compile(context.Background(), src)
		_ = Lint(context.Background(), src)
	})
}

// FuzzExpandBounded asserts the expand phase's bounds on every input,
// with limits small enough for fuzzing: the work counter never passes its
// budget and an expanded configuration never passes the size limit. Both
// are counted, not timed, so the checks are deterministic. `go test` runs
// the seeds (tricky expansions) without -fuzz.
func FuzzExpandBounded(f *testing.F) {
	f.Add([]byte(doublingReferences()))
	for _, s := range []string{
		".a: [x]\n.b: [!reference [.a], !reference [.a], !reference [.a]]\n.c: [!reference [.b], !reference [.b], !reference [.b]]\nj: {script: !reference [.c]}\n",
		"j: {script: !reference [j, script]}\n",
		".a: {x: !reference [.b, x]}\n.b: {x: !reference [.a, x]}\nj: {script: !reference [.a, x]}\n",
		".a: &a [x, x, x, x]\n.b: &b [*a, *a, *a, *a]\n.c: [*b, *b, *b, *b, !reference [.b]]\nj: {script: !reference [.c]}\n",
		".a: {script: [x]}\n.b: {extends: .a}\n.c: {extends: [.a, .b]}\nj: {extends: [.a, .b, .c], script: !reference [.c, script]}\n",
		"include: a.yml\n",
		"include: [b.yml, b.yml, b.yml]\nj: {script: !reference [b, script]}\n",
		"j: {script: !reference [missing]}\n",
		".a: [!reference [.a, 0]]\n",
		"j: {script: !reference []}\n",
		"<<: {j: {script: !reference [.x]}}\n.x: [y]\n",
	} {
		f.Add([]byte(s))
	}
	files := map[string]string{"a.yml": "include: a.yml\n", "b.yml": "b: {script: [!reference [.x], !reference [.x]]}\n.x: [y, y, y]\n"}
	f.Fuzz(func(t *testing.T, content []byte) {
		src := Source{Content: content, Ref: "main", PipelineSource: "push", ReadFile: mapReader(files)}
		b := newBudget(context.Background())
		b.deadline = time.Now().Add(time.Hour) // only the counters decide
		b.maxSize = 1 << 20
		b.maxSteps = b.maxSize / nodeCost
		c, err := analyzeWithin(b, src)
		if b.steps > b.maxSteps {
			t.Fatalf("%d steps, budget %d", b.steps, b.maxSteps)
		}
		if err == nil && c != nil && c.merged != nil {
			if n := treeSize(c.merged, b.maxSize); n > b.maxSize {
				t.Fatalf("expanded size %d over %d", n, b.maxSize)
			}
		}
	})
}

// treeSize is the size of v as a tree (shared values counted at each
// use), in approxSize's units, stopping just above limit.
func treeSize(v any, limit int) int {
	switch t := v.(type) {
	case *omap:
		n := nodeCost + 16*t.len()
		for _, k := range t.keys {
			if n = satAdd(n, treeSize(t.m[k], limit), limit); n > limit {
				return n
			}
		}
		return n
	case []any:
		n := nodeCost + 8*len(t)
		for _, e := range t {
			if n = satAdd(n, treeSize(e, limit), limit); n > limit {
				return n
			}
		}
		return n
	case string:
		return nodeCost + len(t)
	}
	return nodeCost
}

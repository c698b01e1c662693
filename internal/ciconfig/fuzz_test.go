package ciconfig

import (
	"os"
	"path/filepath"
	"testing"
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
		_, _ = Compile(src)
		_ = Lint(src)
	})
}

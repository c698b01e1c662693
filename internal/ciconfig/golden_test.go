package ciconfig

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden JSON files of testdata/corpus and testdata/keywords")

// goldenSource is the optional first-line header of a golden input:
//
//	# source: {"ref": "main", "tag": false, "pipeline_source": "push", ...}
type goldenSource struct {
	Ref            string            `json:"ref"`
	Tag            bool              `json:"tag"`
	PipelineSource string            `json:"pipeline_source"`
	Variables      map[string]string `json:"variables"`
	ChangedFiles   []string          `json:"changed_files"`
	// CompareTo maps rules:changes:compare_to refs to the paths changed
	// since them; other refs do not exist.
	CompareTo map[string][]string `json:"compare_to"`
}

// goldenResult is what a golden JSON file holds.
type goldenResult struct {
	Plan   *Plan    `json:"plan,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

// repoFS serves testdata/repo as the commit's files for include:local,
// trigger:include and rules:exists.
func repoSource(t testing.TB, content []byte) Source {
	root := filepath.Join("testdata", "repo")
	return Source{
		Content: content,
		ReadFile: func(p string) ([]byte, error) {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
			}
			return b, nil
		},
		Exists: func(glob string) bool {
			found := false
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				rel, _ := filepath.Rel(root, p)
				if MatchGlob(glob, filepath.ToSlash(rel)) {
					found = true
				}
				return nil
			})
			return found
		},
	}
}

func parseHeader(t testing.TB, content []byte) goldenSource {
	gs := goldenSource{Ref: "main", PipelineSource: "push"}
	sc := bufio.NewScanner(bytes.NewReader(content))
	if sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# source:"); ok {
			if err := json.Unmarshal([]byte(rest), &gs); err != nil {
				t.Fatalf("bad header %q: %v", line, err)
			}
		}
	}
	return gs
}

// predefined gives the CI_* variables a push pipeline has for rules:if.
func predefined(gs goldenSource) map[string]string {
	v := map[string]string{
		"CI":                 "true",
		"GITLAB_CI":          "true",
		"CI_PIPELINE_SOURCE": gs.PipelineSource,
		"CI_COMMIT_REF_NAME": gs.Ref,
		"CI_DEFAULT_BRANCH":  "main",
		"CI_PROJECT_PATH":    "group/project",
	}
	if gs.Tag {
		v["CI_COMMIT_TAG"] = gs.Ref
	} else if gs.PipelineSource != "merge_request_event" {
		v["CI_COMMIT_BRANCH"] = gs.Ref
	}
	for k, x := range gs.Variables {
		v[k] = x
	}
	return v
}

func compileGolden(t testing.TB, path string) goldenResult {
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gs := parseHeader(t, content)
	src := repoSource(t, content)
	src.Ref, src.Tag, src.PipelineSource = gs.Ref, gs.Tag, gs.PipelineSource
	src.ChangedFiles = gs.ChangedFiles
	src.ChangedSince = func(ref string) ([]string, error) {
		files, ok := gs.CompareTo[ref]
		if !ok {
			return nil, ErrRefNotFound
		}
		return files, nil
	}
	src.Variables = predefined(gs)
	plan, err := Compile(context.Background(), src)
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("Compile returned %T, want *Error: %v", err, err)
		}
		return goldenResult{Errors: ce.Errors}
	}
	return goldenResult{Plan: plan}
}

func runGoldenDir(t *testing.T, dir string) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no inputs in testdata/%s", dir)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yml"), func(t *testing.T) {
			t.Parallel()
			got, err := json.MarshalIndent(compileGolden(t, f), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".yml") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden (run with -update and review it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; got:\n%s", f, got)
			}
		})
	}
}

// TestCorpus compiles realistic configurations and compares the plans with
// reviewed golden JSON.
func TestCorpus(t *testing.T) {
	t.Parallel()
	runGoldenDir(t, "corpus")
}

// TestKeywords has one small golden case per keyword.
func TestKeywords(t *testing.T) {
	t.Parallel()
	runGoldenDir(t, "keywords")
}

func errNotExist(p string) error { return fmt.Errorf("open %s: %w", p, fs.ErrNotExist) }

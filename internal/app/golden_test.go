package app_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

// update rewrites the golden files instead of comparing with them:
// `go test ./internal/app -run TestName -update`, then review the diff.
// Every package with golden files names its flag -update the same way.
var update = flag.Bool("update", false, "rewrite golden files")

// goldenWrite serialises -update writes: the subtests of both databases
// write the same files.
var goldenWrite sync.Mutex

var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)"`), `"<time>"`},
	{regexp.MustCompile(`[0-9a-f]{40}`), `<sha>`},
	{regexp.MustCompile(`"short_id":"[0-9a-f]{8}"`), `"short_id":"<short>"`},
	// A pipeline's queued_duration is null when it started within the
	// second it was created, a number otherwise: on a loaded machine
	// either happens, so both read the same.
	{regexp.MustCompile(`"queued_duration":(null|[0-9.e+-]+)`), `"queued_duration":"<queued>"`},
	{regexp.MustCompile(`"duration":[0-9.e+-]+`), `"duration":"<float>"`},
	{regexp.MustCompile(`http://127\.0\.0\.1:\d+`), `http://gantry.test`},
	{regexp.MustCompile(`"size":\d+`), `"size":"<size>"`},
	{regexp.MustCompile(`"token":"(glpat|glrt)-[^"]*"`), `"token":"<$1-token>"`},
}

// golden compares a raw JSON answer, with volatile values normalised and
// key order kept, to testdata/golden/<name>.json.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	for _, n := range normalizers {
		body = n.re.ReplaceAll(body, []byte(n.with))
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		t.Fatalf("indent %s: %v", body, err)
	}
	out.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		goldenWrite.Lock()
		defer goldenWrite.Unlock()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run with -update)", name, err)
	}
	if !bytes.Equal(want, out.Bytes()) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, out.Bytes(), want)
	}
}

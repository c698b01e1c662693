package gitserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gantryci/gantry/internal/gitrepo"
)

// countingWriter counts the response bytes that reach the client.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

func (c countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// TestRecordPushBeforeAnswer: RecordPush sees the push applied and its
// options before a byte of git's answer reaches the client; OnPush comes
// after. A RecordPush error fails the push at the client and skips OnPush.
func TestRecordPushBeforeAnswer(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "recorded", true: "record fails"}[fail], func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "1.git")
			if _, err := gitrepo.Init(context.Background(), dir, "main"); err != nil {
				t.Fatal(err)
			}
			var (
				mu        sync.Mutex
				sent      atomic.Int64
				events    []string
				sentAtRec int64 = -1
				recorded  []RefUpdate
				opts      []string
			)
			h := New(Config{
				Resolve: func(context.Context, string, Access, string, string, bool) (Target, error) {
					return Target{ProjectID: 1, RepoDir: dir, UserID: 7}, nil
				},
				RecordPush: func(ctx context.Context, tg Target, updates []RefUpdate) error {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, "record")
					sentAtRec, recorded, opts = sent.Load(), updates, tg.PushOptions
					if _, err := gitrepo.Open(dir).ResolveRef(ctx, "refs/heads/main"); err != nil {
						t.Errorf("RecordPush before git applied the push: %v", err)
					}
					if fail {
						return errors.New("database down")
					}
					return nil
				},
				OnPush: func(context.Context, Target, []RefUpdate) {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, "onpush")
				},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
					w = countingWriter{ResponseWriter: w, n: &sent}
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)

			work := t.TempDir()
			mustGit(t, work, "init", "-q", "-b", "main")
			mustGit(t, work, "commit", "-q", "--allow-empty", "-m", "one")
			out, err := runGit(work, "push", "-o", "ci.skip", srv.URL+"/grp/proj.git", "main")
			if fail != (err != nil) {
				t.Fatalf("push error = %v, want failure %v\n%s", err, fail, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if sentAtRec != 0 {
				t.Errorf("%d bytes of git's answer were sent before RecordPush", sentAtRec)
			}
			if len(recorded) != 1 || recorded[0].Ref != "refs/heads/main" || !slices.Equal(opts, []string{"ci.skip"}) {
				t.Errorf("RecordPush got %+v with options %v", recorded, opts)
			}
			want := []string{"record", "onpush"}
			if fail {
				want = want[:1]
			}
			if !slices.Equal(events, want) {
				t.Errorf("calls = %v, want %v", events, want)
			}
		})
	}
}

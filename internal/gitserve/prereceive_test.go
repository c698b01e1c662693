package gitserve

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

const (
	oidA = "1111111111111111111111111111111111111111"
	oidB = "2222222222222222222222222222222222222222"
	oid0 = "0000000000000000000000000000000000000000"
)

func TestReadCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want []RefUpdate
		bad  bool
	}{
		{"one with capabilities", pkt(oidA+" "+oidB+" refs/heads/main\x00report-status side-band-64k\n") + "0000PACK",
			[]RefUpdate{{Ref: "refs/heads/main", OldSHA: oidA, NewSHA: oidB}}, false},
		{"shallow lines skipped", pkt("shallow "+oidA+"\n") + pkt(oid0+" "+oidB+" refs/heads/x\x00report-status\n") +
			pkt(oidB+" "+oid0+" refs/tags/v1\n") + "0000",
			[]RefUpdate{{Ref: "refs/heads/x", OldSHA: oid0, NewSHA: oidB}, {Ref: "refs/tags/v1", OldSHA: oidB, NewSHA: oid0}}, false},
		{"empty body", "", nil, false},
		{"no flush", pkt(oidA + " " + oidB + " refs/heads/main\n"), nil, true},
		{"bad length", "zzzz", nil, true},
		{"length below header", "0002", nil, true},
		{"truncated line", "00ff" + oidA, nil, true},
		{"short object id", pkt("abc "+oidB+" refs/heads/main\n") + "0000", nil, true},
		{"mixed id lengths", pkt(oidA+" "+strings.Repeat("3", 64)+" refs/heads/main\n") + "0000", nil, true},
		{"no ref", pkt(oidA+" "+oidB+"\n") + "0000", nil, true},
		{"extra field", pkt(oidA+" "+oidB+" refs/heads/a b\n") + "0000", nil, true},
	}
	for _, c := range cases {
		r := strings.NewReader(c.body)
		got, raw, err := readCommands(r)
		if (err != nil) != c.bad {
			t.Errorf("%s: err %v, want bad=%v", c.name, err, c.bad)
			continue
		}
		if c.bad {
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		// What was consumed plus what is left is the whole body: git
		// sees the request unchanged.
		rest, _ := io.ReadAll(r)
		if string(raw)+string(rest) != c.body {
			t.Errorf("%s: consumed %q + rest %q != body", c.name, raw, rest)
		}
	}
}

// The command list read ahead of git is bounded whatever the client sends.
func TestReadCommandsBounded(t *testing.T) {
	t.Parallel()
	line := pkt(oidA + " " + oidB + " refs/heads/" + strings.Repeat("x", 60000) + "\n")
	body := strings.Repeat(line, maxCommandBytes/len(line)+2) + "0000"
	if _, _, err := readCommands(strings.NewReader(body)); err == nil {
		t.Fatal("an oversized command list was accepted")
	}
}

// checkServer is a gitserve handler whose CheckPush denies what the test
// says, recording what it was asked.
type checkServer struct {
	*testServer
	url string

	mu    sync.Mutex
	asked [][]RefUpdate
}

func newCheckServer(t *testing.T, decide func(RefUpdate) PushCheck) *checkServer {
	cs := &checkServer{testServer: newTestServer(t)}
	h := New(Config{
		Resolve: cs.resolve,
		CheckPush: func(_ context.Context, _ Target, updates []RefUpdate) ([]PushCheck, error) {
			cs.mu.Lock()
			cs.asked = append(cs.asked, updates)
			cs.mu.Unlock()
			out := make([]PushCheck, len(updates))
			for i, u := range updates {
				out[i] = decide(u)
			}
			return out, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cs.url = strings.Replace(srv.URL, "http://", "http://oauth2:"+token+"@", 1) + "/grp/private.git"
	return cs
}

func TestCheckPushEnforced(t *testing.T) {
	t.Parallel()
	pwned := filepath.Join(t.TempDir(), "pwned")
	// A ref name full of shell syntax reaches the hook as data only.
	evil := "refs/heads/x'$(touch${IFS}" + pwned + ")'`touch${IFS}" + pwned + "`"
	cs := newCheckServer(t, func(u RefUpdate) PushCheck {
		switch u.Ref {
		case "refs/heads/main", "refs/heads/side":
			return PushCheck{ForceDeny: "no force on main"}
		case "refs/heads/locked", evil:
			return PushCheck{Deny: "locked: it's \"closed\" $HOME"}
		}
		return PushCheck{}
	})
	work := newWork(t, cs.url)
	first := commitFile(t, work, "a.txt", "1")
	mustGit(t, work, "push", "-q", "origin", "main")
	second := commitFile(t, work, "a.txt", "2")
	mustGit(t, work, "push", "-q", "origin", "main") // a fast-forward passes the force check

	out, err := runGit(work, "push", "origin", "main:locked")
	if err == nil || !strings.Contains(out, `remote: GitLab: locked: it's "closed" $HOME`) ||
		!strings.Contains(out, "[remote rejected] main -> locked (pre-receive hook declined)") {
		t.Fatalf("denied push: err %v\n%s", err, out)
	}
	out, err = runGit(work, "push", "origin", "main:"+strings.TrimPrefix(evil, "refs/heads/"))
	if err == nil || !strings.Contains(out, "remote: GitLab: locked:") {
		t.Fatalf("denied push of the odd ref: err %v\n%s", err, out)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a ref name ran shell code in the hook")
	}

	mustGit(t, work, "reset", "-q", "--hard", first)
	commitFile(t, work, "b.txt", "forked")
	out, err = runGit(work, "push", "-f", "origin", "main")
	if err == nil || !strings.Contains(out, "remote: GitLab: no force on main") {
		t.Fatalf("force push: err %v\n%s", err, out)
	}
	repo := cs.projects["grp/private"].dir
	if got := mustGit(t, repo, "rev-parse", "refs/heads/main"); got != second {
		t.Fatalf("main is %s after refused pushes, want %s", got, second)
	}
	if got, _ := runGit(repo, "rev-parse", "--verify", "-q", "refs/heads/locked"); got != "" {
		t.Fatalf("locked exists: %s", got)
	}
	// Creating or deleting is not a force push: the check lets them through.
	mustGit(t, work, "push", "-q", "origin", second+":refs/heads/side")
	mustGit(t, work, "push", "-q", "origin", ":side")

	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.asked) != 7 || cs.asked[0][0].Ref != "refs/heads/main" || cs.asked[0][0].OldSHA != oid0 ||
		cs.asked[1][0].OldSHA != first || cs.asked[1][0].NewSHA != second {
		t.Fatalf("CheckPush saw %v", cs.asked)
	}
}

// A gzip-encoded push body is read through the encoding and replayed to
// git in full.
func TestCheckPushGzipBody(t *testing.T) {
	t.Parallel()
	cs := newCheckServer(t, func(RefUpdate) PushCheck { return PushCheck{} })
	work := newWork(t, cs.url)
	sha := commitFile(t, work, "a.txt", "1")
	mustGit(t, work, "push", "-q", "origin", "main:doomed")

	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = io.WriteString(zw, pkt(sha+" "+oid0+" refs/heads/doomed\x00report-status\n")+"0000")
	_ = zw.Close()
	req, _ := http.NewRequest("POST", strings.TrimSuffix(cs.url, ".git")+".git/git-receive-pack", &body)
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(got), "ok refs/heads/doomed") {
		t.Fatalf("gzip delete: %d %q", res.StatusCode, got)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if last := cs.asked[len(cs.asked)-1]; len(last) != 1 || last[0].Ref != "refs/heads/doomed" || last[0].NewSHA != oid0 {
		t.Fatalf("CheckPush saw %v", last)
	}
}

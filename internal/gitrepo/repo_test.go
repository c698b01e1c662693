package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantryci/gantry/internal/testkit/gittest"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testGit runs git in dir with an isolated configuration (no user or
// system config) and a fixed identity, failing the test on error.
func testGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	return gittest.Run(t, dir, gittest.Env(append([]string{"HOME=" + dir,
		"GIT_AUTHOR_NAME=Ann Author", "GIT_AUTHOR_EMAIL=ann@example.com",
		"GIT_COMMITTER_NAME=Cid Committer", "GIT_COMMITTER_EMAIL=cid@example.com",
	}, env...)...), args...)
}

// fixture is a bare repository plus a working copy that pushes to it.
type fixture struct {
	repo *Repo
	work string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	repo, err := Init(context.Background(), filepath.Join(base, "ns", "proj.git"), "main")
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(base, "work")
	testGit(t, base, nil, "init", "-q", "-b", "main", work)
	testGit(t, work, nil, "remote", "add", "origin", repo.Dir)
	return &fixture{repo: repo, work: work}
}

// commit writes files (empty content deletes), commits with msg and
// returns the new sha.
func (f *fixture) commit(t *testing.T, msg string, files map[string]string, env ...string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(f.work, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testGit(t, f.work, nil, "add", "-A")
	msgFile := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(msgFile, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	testGit(t, f.work, env, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", msgFile)
	return testGit(t, f.work, nil, "rev-parse", "HEAD")
}

func (f *fixture) push(t *testing.T, refspecs ...string) {
	t.Helper()
	testGit(t, f.work, nil, append([]string{"push", "-q", "-f", "origin"}, refspecs...)...)
}

func TestInit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b.git")
	tests := []struct {
		name   string
		branch string
		want   string
	}{
		{"create", "main", "main"},
		{"reinit keeps branch when empty", "", "main"},
		{"reinit changes branch", "develop", "develop"},
	}
	// Steps run in order on the same directory: Init must be idempotent.
	for _, tt := range tests {
		r, err := Init(ctx, dir, tt.branch)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := r.DefaultBranch(ctx)
		if err != nil || got != tt.want {
			t.Fatalf("%s: default branch = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	for key, want := range map[string]string{
		"http.receivepack":            "true",
		"receive.denyNonFastForwards": "false",
		"core.bare":                   "true",
	} {
		if got := testGit(t, dir, nil, "config", key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if got := testGit(t, dir, nil, "config", "--get-all", "receive.hideRefs"); strings.Count(got, "\n") != len(hiddenRefPrefixes)-1 {
		t.Errorf("receive.hideRefs grew on re-init: %q", got)
	}
	if _, err := Init(ctx, dir, "bad..name"); err == nil {
		t.Error("Init accepted an invalid branch name")
	}
}

func TestCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	root := f.commit(t, "Root\n", map[string]string{"a.txt": "a\n"},
		"GIT_AUTHOR_DATE=2024-03-01T10:00:00+02:00", "GIT_COMMITTER_DATE=2024-03-02T08:30:00-05:30")
	msg := "Add feature X\n\nLonger explanation\nover two lines.\n\nSigned-off-by: Ann Author <ann@example.com>\nCo-authored-by: Bob\n  Builder <bob@example.com>\n"
	second := f.commit(t, msg, map[string]string{"b.txt": "b\n"},
		"GIT_AUTHOR_DATE=2024-04-05T23:59:59+02:00", "GIT_COMMITTER_DATE=2024-04-06T00:00:01Z")
	noNewline := f.commit(t, "No trailing newline\r\nsecond", nil)
	f.push(t, "main")
	testGit(t, f.work, nil, "tag", "-a", "-m", "release", "v1", second)
	f.push(t, "v1")

	tests := []struct {
		name        string
		rev         string
		id          string
		title       string
		message     string
		parents     []string
		authored    string
		committed   string
		trailers    map[string]string
		wantMissing bool
	}{
		{
			name: "root", rev: root, id: root, title: "Root", message: "Root\n", parents: []string{},
			authored: "2024-03-01T10:00:00+02:00", committed: "2024-03-02T08:30:00-05:30",
			trailers: map[string]string{},
		},
		{
			name: "multi-line with trailers via annotated tag", rev: "v1", id: second,
			title: "Add feature X", message: msg, parents: []string{root},
			authored: "2024-04-05T23:59:59+02:00", committed: "2024-04-06T00:00:01Z",
			trailers: map[string]string{
				"Signed-off-by":  "Ann Author <ann@example.com>",
				"Co-authored-by": "Bob Builder <bob@example.com>",
			},
		},
		{
			name: "branch name, CRLF title", rev: "main", id: noNewline,
			title: "No trailing newline", message: "No trailing newline\r\nsecond", parents: []string{second},
			trailers: map[string]string{},
		},
		{name: "missing", rev: "nope", wantMissing: true},
		{name: "option-like", rev: "--all", wantMissing: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := f.repo.Commit(ctx, tt.rev)
			if tt.id == "" {
				if err == nil {
					t.Fatalf("Commit(%q) succeeded", tt.rev)
				}
				if got := errors.Is(err, fs.ErrNotExist); got != tt.wantMissing {
					t.Fatalf("errors.Is(%v, fs.ErrNotExist) = %v", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ID != tt.id || c.ShortID != tt.id[:8] || c.Title != tt.title || c.Message != tt.message {
				t.Errorf("got id=%s short=%s title=%q message=%q", c.ID, c.ShortID, c.Title, c.Message)
			}
			if c.ParentIDs == nil || !slices.Equal(c.ParentIDs, tt.parents) {
				t.Errorf("parents = %#v, want %#v", c.ParentIDs, tt.parents)
			}
			if c.AuthorName != "Ann Author" || c.AuthorEmail != "ann@example.com" ||
				c.CommitterName != "Cid Committer" || c.CommitterEmail != "cid@example.com" {
				t.Errorf("identities = %q <%q>, %q <%q>", c.AuthorName, c.AuthorEmail, c.CommitterName, c.CommitterEmail)
			}
			if tt.authored != "" {
				if got := c.AuthoredDate.Format(time.RFC3339); got != tt.authored {
					t.Errorf("authored = %s, want %s", got, tt.authored)
				}
				if got := c.CommittedDate.Format(time.RFC3339); got != tt.committed {
					t.Errorf("committed = %s, want %s", got, tt.committed)
				}
			}
			if c.Trailers == nil || len(c.Trailers) != len(tt.trailers) {
				t.Errorf("trailers = %#v, want %#v", c.Trailers, tt.trailers)
			}
			for k, v := range tt.trailers {
				if c.Trailers[k] != v {
					t.Errorf("trailer %s = %q, want %q", k, c.Trailers[k], v)
				}
			}
		})
	}
}

func TestShortTitle(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 30) // 150 characters
	tests := []struct {
		title, want string
	}{
		{"short", "short"},
		{strings.Repeat("x", 99), strings.Repeat("x", 99)},
		{long, strings.TrimSuffix(long[:80], " ") + "…"},
		{strings.Repeat("y", 120), strings.Repeat("y", 80) + "…"},
	}
	for _, tt := range tests {
		c := &Commit{Title: tt.title}
		if got := c.ShortTitle(); got != tt.want {
			t.Errorf("ShortTitle(%q) = %q, want %q", tt.title, got, tt.want)
		}
	}
}

func TestFilesAndRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	c1 := f.commit(t, "one\n", map[string]string{
		".gitlab-ci.yml": "job:\n  script: true\n",
		"src/a.go":       "package a\n",
		"src/b.go":       "package b\n",
		"docs/x.md":      "x\n",
	})
	c2 := f.commit(t, "two\n", map[string]string{
		"src/a.go":  "package a // changed\n",
		"docs/x.md": "",
		"new.txt":   "new\n",
	})
	f.push(t, "main", c1+":refs/heads/old")
	testGit(t, f.work, nil, "tag", "light", c1)
	f.push(t, "light")

	t.Run("ReadFile", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			rev, path, want string
			missing         bool
		}{
			{"main", ".gitlab-ci.yml", "job:\n  script: true\n", false},
			{c1, "src/a.go", "package a\n", false},
			{"main", "src/a.go", "package a // changed\n", false},
			{"main", "/src/b.go", "package b\n", false},
			{"main", "./new.txt", "new\n", false},
			{"main", "docs/x.md", "", true},
			{c1, "docs/x.md", "x\n", false},
			{"main", "src", "", true},
			{"nope", "src/a.go", "", true},
			{"main", "", "", true},
		}
		for _, tt := range tests {
			got, err := f.repo.ReadFile(ctx, tt.rev, tt.path)
			if tt.missing {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("ReadFile(%s, %s) err = %v, want fs.ErrNotExist", tt.rev, tt.path, err)
				}
				continue
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("ReadFile(%s, %s) = %q, %v; want %q", tt.rev, tt.path, got, err, tt.want)
			}
		}
	})

	t.Run("ListFiles", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			rev     string
			want    []string
			missing bool
		}{
			{"main", []string{".gitlab-ci.yml", "new.txt", "src/a.go", "src/b.go"}, false},
			{"old", []string{".gitlab-ci.yml", "docs/x.md", "src/a.go", "src/b.go"}, false},
			{"refs/heads/nope", nil, true},
		}
		for _, tt := range tests {
			got, err := f.repo.ListFiles(ctx, tt.rev)
			if tt.missing {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("ListFiles(%s) err = %v, want fs.ErrNotExist", tt.rev, err)
				}
				continue
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("ListFiles(%s) = %q, %v; want %q", tt.rev, got, err, tt.want)
			}
		}
	})

	t.Run("ChangedFiles", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, from, to string
			want           []string
			missing        bool
		}{
			{"update", c1, c2, []string{"docs/x.md", "new.txt", "src/a.go"}, false},
			{"reverse", c2, c1, []string{"docs/x.md", "new.txt", "src/a.go"}, false},
			{"same", c2, c2, []string{}, false},
			{"zero from", ZeroSHA, c2, nil, false},
			{"empty from", "", c2, nil, false},
			{"deleted", c1, ZeroSHA, nil, false},
			{"unknown from", strings.Repeat("ab", 20), c2, nil, true},
		}
		for _, tt := range tests {
			got, err := f.repo.ChangedFiles(ctx, tt.from, tt.to)
			if tt.missing {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: err = %v, want fs.ErrNotExist", tt.name, err)
				}
				continue
			}
			if err != nil || !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("%s: ChangedFiles = %#v, %v; want %#v", tt.name, got, err, tt.want)
			}
		}
	})

	t.Run("ResolveRef", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			ref, want string
		}{
			{"main", c2},
			{"refs/heads/main", c2},
			{"old", c1},
			{"light", c1},
			{"refs/tags/light", c1},
			{c1, c1},
			{c1[:10], c1},
			{"HEAD", c2},
			{"nope", ""},
			{"refs/heads/light", ""},
			{"-x", ""},
		}
		for _, tt := range tests {
			got, err := f.repo.ResolveRef(ctx, tt.ref)
			if tt.want == "" {
				if err == nil {
					t.Errorf("ResolveRef(%q) = %s, want error", tt.ref, got)
				}
				continue
			}
			if err != nil || got != tt.want {
				t.Errorf("ResolveRef(%q) = %s, %v; want %s", tt.ref, got, err, tt.want)
			}
		}
		if _, err := f.repo.ResolveRef(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ResolveRef(nope) err = %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("Exists", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name        string
			branch, tag bool
		}{
			{"main", true, false},
			{"old", true, false},
			{"light", false, true},
			{"nope", false, false},
			{"a b", false, false},
			{"", false, false},
		}
		for _, tt := range tests {
			b, err := f.repo.BranchExists(ctx, tt.name)
			if err != nil || b != tt.branch {
				t.Errorf("BranchExists(%q) = %v, %v", tt.name, b, err)
			}
			tg, err := f.repo.TagExists(ctx, tt.name)
			if err != nil || tg != tt.tag {
				t.Errorf("TagExists(%q) = %v, %v", tt.name, tg, err)
			}
		}
	})
}

func TestUpdateRefAndRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	c1 := f.commit(t, "one\n", map[string]string{"a": "a"})
	f.push(t, "main")
	testGit(t, f.work, nil, "tag", "-a", "-m", "annotated", "v1")
	f.push(t, "v1")
	tagObj := testGit(t, f.repo.Dir, nil, "rev-parse", "refs/tags/v1")

	tests := []struct {
		name, ref, sha string
		wantErr        bool
	}{
		{"pipeline ref", "refs/pipelines/12", c1, false},
		{"not full", "pipelines/12", c1, true},
		{"bad name", "refs/pipelines/a..b", c1, true},
		{"zero sha", "refs/pipelines/13", ZeroSHA, true},
		{"unknown object", "refs/pipelines/14", strings.Repeat("cd", 20), true},
	}
	for _, tt := range tests {
		err := f.repo.UpdateRef(ctx, tt.ref, tt.sha)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: UpdateRef err = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
	}
	refs, err := f.repo.Refs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"refs/heads/main":   c1,
		"refs/tags/v1":      tagObj,
		"refs/pipelines/12": c1,
	}
	if len(refs) != len(want) {
		t.Errorf("Refs = %v, want %v", refs, want)
	}
	for k, v := range want {
		if refs[k] != v {
			t.Errorf("Refs[%s] = %s, want %s", k, refs[k], v)
		}
	}
	for range 2 { // deleting a missing ref is not an error
		if err := f.repo.DeleteRef(ctx, "refs/pipelines/12"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.repo.ResolveRef(ctx, "refs/pipelines/12"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted ref still resolves: %v", err)
	}
	if !IsInternalRef("refs/pipelines/12") || IsInternalRef("refs/heads/pipelines") {
		t.Error("IsInternalRef misclassifies")
	}
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.repo.Refs(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Refs with cancelled ctx: err = %v, want context.Canceled", err)
	}
}

func TestCompareAndSwapRef(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	c1 := f.commit(t, "one\n", map[string]string{"a": "a"})
	c2 := f.commit(t, "two\n", map[string]string{"a": "b"})
	f.push(t, "main")
	steps := []struct {
		name             string
		ref, old, new    string
		changed, invalid bool
	}{
		{"create", "refs/heads/x", ZeroSHA, c1, false, false},
		{"create again", "refs/heads/x", ZeroSHA, c2, true, false},
		{"move from stale value", "refs/heads/x", c2, c1, true, false},
		{"move", "refs/heads/x", c1, c2, false, false},
		{"delete from stale value", "refs/heads/x", c1, ZeroSHA, true, false},
		{"delete", "refs/heads/x", c2, ZeroSHA, false, false},
		{"delete missing", "refs/heads/x", c2, ZeroSHA, true, false},
		{"bad name", "refs/heads/a..b", ZeroSHA, c1, false, true},
		{"option-looking value", "refs/heads/y", ZeroSHA, "-d", false, true},
	}
	for _, s := range steps {
		err := f.repo.CompareAndSwapRef(ctx, s.ref, s.old, s.new)
		if got := errors.Is(err, ErrRefChanged); got != s.changed || (err != nil) != (s.changed || s.invalid) {
			t.Errorf("%s: err = %v", s.name, err)
		}
	}
	id, err := f.repo.CreateAnnotatedTag(ctx, "v1", c1, "Release\n", "Dev <x>", "dev@example.com", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.repo.CompareAndSwapRef(ctx, "refs/tags/v1", ZeroSHA, id); err != nil {
		t.Fatal(err)
	}
	tags, err := f.repo.Tags(ctx)
	if err != nil || len(tags) != 1 || !tags[0].Annotated || tags[0].Commit != c1 || strings.TrimSpace(tags[0].Message) != "Release" {
		t.Fatalf("tags %v %+v", err, tags)
	}
	if _, err := f.repo.CreateAnnotatedTag(ctx, "v2", strings.Repeat("ab", 20), "m", "a", "b", time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tag of a missing object: %v", err)
	}
}

// TestResolveRefFollowsMoves resolves refs through the repository's
// long-lived checker while they move, are packed and are deleted: every
// answer is what git says now.
func TestResolveRefFollowsMoves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	r := f.repo
	shas := []string{f.commit(t, "one\n", map[string]string{"a": "1"}), f.commit(t, "two\n", map[string]string{"a": "2"})}
	f.push(t, "main")
	for i, step := range []struct {
		name string
		do   []string
		want string
	}{
		{"first", []string{"update-ref", "refs/heads/moving", shas[0]}, shas[0]},
		{"moved", []string{"update-ref", "refs/heads/moving", shas[1]}, shas[1]},
		{"packed", []string{"pack-refs", "--all"}, shas[1]},
		{"moved after packing", []string{"update-ref", "refs/heads/moving", shas[0]}, shas[0]},
		{"deleted", []string{"update-ref", "-d", "refs/heads/moving"}, ""},
	} {
		// A new pack of objects the checker has not seen yet.
		if i == 2 {
			three := f.commit(t, "three\n", map[string]string{"b": "3"})
			f.push(t, "main:refs/heads/other")
			if got, err := r.ResolveRef(ctx, "other"); err != nil || got != three {
				t.Fatalf("new branch: ResolveRef = %q, %v; want %s", got, err, three)
			}
		}
		if _, err := r.run(ctx, nil, step.do...); err != nil {
			t.Fatalf("%d %s: %v", i, step.name, err)
		}
		got, err := r.ResolveRef(ctx, "moving")
		if step.want == "" {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s: ResolveRef = %q, %v; want not found", step.name, got, err)
			}
			continue
		}
		if err != nil || got != step.want {
			t.Fatalf("%s: ResolveRef = %q, %v; want %s", step.name, got, err, step.want)
		}
	}
	checkers.mu.Lock()
	running := checkers.m[r.Dir+"\x00"+procCheck] != nil
	checkers.mu.Unlock()
	if !running {
		t.Error("no long-lived checker answered for the repository")
	}
}

// TestUpdateRefRepeatedly moves a ref several times through the
// repository's long-lived update-ref, then has a refused update (a bad
// object) fail as a one-shot update-ref fails.
func TestUpdateRefRepeatedly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	r := f.repo
	one := f.commit(t, "one\n", map[string]string{"a": "1"})
	two := f.commit(t, "two\n", map[string]string{"a": "2"})
	f.push(t, "main")
	for i, sha := range []string{one, two, one, two} {
		ref := fmt.Sprintf("refs/pipelines/%d", i%2+1)
		if err := r.UpdateRef(ctx, ref, sha); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if got := testGit(t, r.Dir, nil, "rev-parse", ref); got != sha {
			t.Fatalf("update %d: %s is %s, want %s", i, ref, got, sha)
		}
	}
	if err := r.UpdateRef(ctx, "refs/pipelines/3", strings.Repeat("1", 40)); err == nil {
		t.Fatal("update to a missing object: no error")
	}
	if err := r.UpdateRef(ctx, "refs/pipelines/4", two); err != nil {
		t.Fatalf("update after a refused one: %v", err)
	}
}

// TestPlainRefName checks that every name plainRefName lets through
// without asking git is one git check-ref-format accepts.
func TestPlainRefName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ref   string
		plain bool
	}{
		{"refs/pipelines/7", true},
		{"refs/heads/feature-1_x", true},
		{"refs/keep-around/0123abcdef", true},
		{"refs/heads/-dash", true},
		{"refs/", false},
		{"refs//x", false},
		{"refs/x/", false},
		{"refs/heads/a.lock", false},
		{"refs/heads/a..b", false},
		{"refs/heads/a@{b", false},
		{"refs/heads/a b", false},
		{"heads/x", false},
	} {
		if got := plainRefName(c.ref); got != c.plain {
			t.Errorf("plainRefName(%q) = %v, want %v", c.ref, got, c.plain)
		}
		if c.plain {
			if _, err := runGit(context.Background(), nil, "check-ref-format", c.ref); err != nil {
				t.Errorf("%q is plain but git refuses it: %v", c.ref, err)
			}
		}
	}
}

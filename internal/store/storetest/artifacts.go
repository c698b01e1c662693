package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var artifactTests = []test{
	{"Artifacts/CreateReplaceDelete", testArtifacts},
	{"Artifacts/Expiry", testArtifactExpiry},
}

func artifact(j *ci.Job, fileType, key string, expire *time.Time) *ci.Artifact {
	format := map[string]string{"archive": "zip", "metadata": "gzip", "trace": "raw", "junit": "gzip"}[fileType]
	return &ci.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: fileType, FileFormat: format,
		Filename: fileType + ".bin", Size: int64(len(key)), BlobKey: key, ExpireAt: expire, CreatedAt: base}
}

func artifactKeys(as []*ci.Artifact) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.BlobKey
	}
	return out
}

func sameKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: keys %v, want %v", what, got, want)
	}
}

func testArtifacts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	j1, j2 := newJob("one", ci.StatusSuccess), newJob("two", ci.StatusSuccess)
	mustPipeline(t, s, pr.ID, "main", j1, j2)
	arch := artifact(j1, "archive", "k/arch1", ptr(base.Add(time.Hour)))
	meta := artifact(j1, "metadata", "k/meta1", nil)
	trace := artifact(j1, "trace", "k/trace1", nil)
	arch2 := artifact(j2, "archive", "k/arch2", nil)
	for _, a := range []*ci.Artifact{arch, meta, trace, arch2} {
		must(t, s.CreateArtifact(ctx, a), "create "+a.BlobKey)
		if a.ID == 0 {
			t.Fatalf("artifact %s has no id", a.BlobKey)
		}
	}

	m, err := s.ArtifactsByJobIDs(ctx, []int64{j1.ID, j2.ID, j2.ID + 100})
	must(t, err, "by jobs")
	if len(m) != 2 {
		t.Fatalf("artifacts by job = %v", m)
	}
	if g := m[j1.ID]; len(g) != 3 || g[0].ID != arch.ID || g[1].ID != meta.ID || g[2].ID != trace.ID {
		t.Errorf("job 1 artifacts = %v, want archive, metadata, trace in id order", artifactKeys(g))
	} else {
		got, want := *g[0], *arch
		sameTime(t, "expire_at", got.ExpireAt, want.ExpireAt)
		if !got.CreatedAt.Equal(base) {
			t.Errorf("created_at = %v", got.CreatedAt)
		}
		got.ExpireAt, got.CreatedAt, want.ExpireAt, want.CreatedAt = nil, time.Time{}, nil, time.Time{}
		if got != want {
			t.Errorf("artifact = %+v, want %+v", got, want)
		}
		if g[1].ExpireAt != nil {
			t.Errorf("metadata expire_at = %v, want nil", g[1].ExpireAt)
		}
	}
	m, err = s.ArtifactsByJobIDs(ctx, nil)
	must(t, err, "no jobs")
	if m == nil || len(m) != 0 {
		t.Errorf("ArtifactsByJobIDs(nil) = %#v", m)
	}

	// Replacing an archive returns the old one's key and keeps the others.
	newArch := artifact(j1, "archive", "k/arch1b", nil)
	old, err := s.ReplaceArtifact(ctx, newArch)
	must(t, err, "replace")
	sameKeys(t, "replaced", old, []string{"k/arch1"})
	old, err = s.ReplaceArtifact(ctx, artifact(j1, "junit", "k/junit1", nil))
	must(t, err, "replace nothing")
	sameKeys(t, "replaced nothing", old, nil)
	m, err = s.ArtifactsByJobIDs(ctx, []int64{j1.ID})
	must(t, err, "by job")
	sameKeys(t, "after replace", artifactKeys(m[j1.ID]), []string{"k/meta1", "k/trace1", "k/arch1b", "k/junit1"})

	for _, tc := range []struct {
		name  string
		job   *ci.Job
		types []string
		want  []string
	}{
		{"one type", j1, []string{"metadata"}, []string{"k/meta1"}},
		{"two types", j1, []string{"archive", "junit"}, []string{"k/arch1b", "k/junit1"}},
		{"type absent", j1, []string{"archive"}, nil},
		{"all left", j1, nil, []string{"k/trace1"}},
		{"none left", j1, nil, nil},
	} {
		keys, err := s.DeleteArtifacts(ctx, tc.job.ID, tc.types...)
		must(t, err, tc.name)
		sameKeys(t, tc.name, keys, tc.want)
	}
	must(t, s.DeleteArtifactByID(ctx, arch2.ID), "delete by id")
	m, err = s.ArtifactsByJobIDs(ctx, []int64{j1.ID, j2.ID})
	must(t, err, "by jobs")
	if len(m) != 0 {
		t.Errorf("artifacts left: %v", m)
	}
}

func testArtifactExpiry(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr, other := mustProject(t, s, "o", "p", ci.VisibilityPrivate), mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	j1, j2, bare := newJob("one", ci.StatusSuccess), newJob("two", ci.StatusSuccess), newJob("bare", ci.StatusSuccess)
	mustPipeline(t, s, pr.ID, "main", j1, j2, bare)
	o1 := newJob("o1", ci.StatusSuccess)
	mustPipeline(t, s, other.ID, "main", o1)
	now := base.Add(10 * time.Hour)
	old := artifact(j1, "archive", "old", ptr(now.Add(-2*time.Hour)))
	older := artifact(j2, "archive", "older", ptr(now.Add(-3*time.Hour)))
	fresh := artifact(j1, "metadata", "fresh", ptr(now.Add(time.Hour)))
	forever := artifact(j2, "metadata", "forever", nil)
	trace := artifact(j1, "trace", "trace", nil)
	foreign := artifact(o1, "archive", "foreign", nil)
	for _, a := range []*ci.Artifact{old, older, fresh, forever, trace, foreign} {
		must(t, s.CreateArtifact(ctx, a), "create "+a.BlobKey)
	}
	for _, tc := range []struct {
		name  string
		now   time.Time
		limit int
		want  []string // by expiry
	}{
		{"expired", now, 10, []string{"older", "old"}},
		{"limit", now, 1, []string{"older"}},
		{"expiry is exclusive", now.Add(-3 * time.Hour), 10, nil},
		{"later", now.Add(2 * time.Hour), 0, []string{"older", "old", "fresh"}},
	} {
		as, err := s.ExpiredArtifacts(ctx, tc.now, tc.limit)
		must(t, err, tc.name)
		if got := artifactKeys(as); !slices.Equal(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}

	// Expiring a project's artifacts sets every one but the trace, and the
	// jobs' expiry with them; other projects are untouched.
	at := now.Add(-time.Minute)
	must(t, s.ExpireArtifacts(ctx, pr.ID, at), "expire")
	as, err := s.ExpiredArtifacts(ctx, now, 0)
	must(t, err, "expired after expire")
	sameKeys(t, "expired after expire", artifactKeys(as), []string{"old", "older", "fresh", "forever"})
	m, err := s.ArtifactsByJobIDs(ctx, []int64{j1.ID, o1.ID})
	must(t, err, "by jobs")
	for _, a := range append(m[j1.ID], m[o1.ID]...) {
		switch a.BlobKey {
		case "trace", "foreign":
			if a.ExpireAt != nil {
				t.Errorf("%s expire_at = %v, want nil", a.BlobKey, a.ExpireAt)
			}
		default:
			sameTime(t, a.BlobKey+" expire_at", a.ExpireAt, &at)
		}
	}
	for _, tc := range []struct {
		job  *ci.Job
		want *time.Time
	}{{j1, &at}, {j2, &at}, {bare, nil}, {o1, nil}} {
		got, err := s.JobByID(ctx, tc.job.ID)
		must(t, err, "job")
		sameTime(t, tc.job.Name+" artifacts_expire_at", got.ArtifactsExpireAt, tc.want)
	}
}

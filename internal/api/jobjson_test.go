package api

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
)

// reflectJSON is what httpx.WriteJSON writes for v.
func reflectJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// jobGen makes job entities whose every field varies: nil and empty, HTML
// characters, control bytes, invalid UTF-8, U+2028/9, extreme numbers.
type jobGen struct{ r *rand.Rand }

var (
	genStrings = []string{
		"", "main", "a<b>&c", "quote\" back\\slash", "tab\tnl\nret\r\b\f\x00\x01\x1f\x7f",
		"ünïcødé 日本語 🚀", "bad\xffutf8\xc3", "line\u2028para\u2029end", "</script>", "&amp;",
		"refs/heads/feature/x-1", "\u00e9\u0301", "\xed\xa0\x80", "plain text with spaces",
	}
	genFloats = []float64{0, 1, -1, 0.5, 12.345, 1e-5, 1.5e16, -2.5e-7, 1e21, 123456789.123, math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.Inf(1), math.NaN(), -0.0}
	genInts  = []int64{0, 1, -1, 42, math.MaxInt64, math.MinInt64, 1 << 40}
	genZones = []*time.Location{time.UTC, time.FixedZone("", 2*3600), time.FixedZone("", -(9*3600 + 30*60)), time.FixedZone("X", 5*60+45)}
)

func (g jobGen) str() string { return genStrings[g.r.IntN(len(genStrings))] }
func (g jobGen) num() int64  { return genInts[g.r.IntN(len(genInts))] }
func (g jobGen) yes() bool   { return g.r.IntN(2) == 0 }

func (g jobGen) strp() *string {
	if g.yes() {
		return nil
	}
	s := g.str()
	return &s
}

func (g jobGen) tm() time.Time {
	t := time.Unix(g.r.Int64N(1<<34)-1<<32, g.r.Int64N(1e9))
	return t.In(genZones[g.r.IntN(len(genZones))])
}

func (g jobGen) timep() *Time {
	if g.yes() {
		return nil
	}
	return &Time{g.tm()}
}

func (g jobGen) floatp() *Float {
	if g.yes() {
		return nil
	}
	f := Float(genFloats[g.r.IntN(len(genFloats))])
	return &f
}

func (g jobGen) strs() []string {
	switch g.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, 1+g.r.IntN(3))
	for i := range out {
		out[i] = g.str()
	}
	return out
}

func (g jobGen) userBasic() UserBasic {
	return UserBasic{ID: g.num(), Username: g.str(), Name: g.str(), State: g.str(), Locked: g.yes(),
		AvatarURL: g.str(), WebURL: g.str()}
}

func (g jobGen) user() *User {
	if g.r.IntN(4) == 0 {
		return nil
	}
	return &User{UserBasic: g.userBasic(), CreatedAt: Time{g.tm()}, Bio: g.strp(), Location: g.strp(),
		PublicEmail: g.str(), Skype: g.str(), Linkedin: g.str(), Twitter: g.str(), Discord: g.str(),
		WebsiteURL: g.str(), Organization: g.str(), JobTitle: g.str(), Pronouns: g.strp(), Bot: g.yes(),
		WorkInformation: g.strp(), Followers: int(g.num()), Following: int(g.num()), IsFollowed: g.yes(),
		LocalTime: g.strp()}
}

func (g jobGen) commit() *Commit {
	if g.r.IntN(4) == 0 {
		return nil
	}
	c := &Commit{ID: g.str(), ShortID: g.str(), CreatedAt: ZonedTime{g.tm()}, ParentIDs: g.strs(), Title: g.str(),
		Message: g.str(), AuthorName: g.str(), AuthorEmail: g.str(), AuthoredDate: ZonedTime{g.tm()},
		CommitterName: g.str(), CommitterEmail: g.str(), CommittedDate: ZonedTime{g.tm()}, WebURL: g.str()}
	if g.yes() {
		c.Trailers = map[string]string{}
		c.ExtendedTrailers = map[string][]string{}
		for range g.r.IntN(4) {
			k := g.str()
			c.Trailers[k] = g.str()
			c.ExtendedTrailers[k] = g.strs()
		}
	}
	return c
}

func (g jobGen) pipeline() *PipelineBasic {
	if g.r.IntN(4) == 0 {
		return nil
	}
	return &PipelineBasic{ID: g.num(), IID: g.num(), ProjectID: g.num(), SHA: g.str(), Ref: g.str(), Status: g.str(),
		Source: g.str(), CreatedAt: Time{g.tm()}, UpdatedAt: Time{g.tm()}, WebURL: g.str()}
}

func (g jobGen) runnerManager() *RunnerManager {
	return &RunnerManager{ID: g.num(), SystemID: g.str(), Version: g.str(), Revision: g.str(), Platform: g.str(),
		Architecture: g.str(), CreatedAt: Time{g.tm()}, ContactedAt: g.timep(), IPAddress: g.strp(), Status: g.str(),
		JobExecutionStatus: g.str()}
}

func (g jobGen) jobBasic(status string) JobBasic {
	jb := JobBasic{ID: g.num(), Status: status, Stage: g.str(), Name: g.str(), Ref: g.str(), Tag: g.yes(),
		Coverage: g.floatp(), AllowFailure: g.yes(), CreatedAt: Time{g.tm()}, StartedAt: g.timep(),
		FinishedAt: g.timep(), ErasedAt: g.timep(), Duration: g.floatp(), QueuedDuration: g.floatp(), User: g.user(),
		Commit: g.commit(), Pipeline: g.pipeline(), FailureReason: g.strp(), WebURL: g.str(),
		Project: JobProject{CIJobTokenScopeEnabled: g.yes()}}
	return jb
}

func (g jobGen) job(status string) *Job {
	j := &Job{JobBasic: g.jobBasic(status), ArtifactsExpireAt: g.timep(), Archived: g.yes(), TagList: g.strs()}
	if g.yes() {
		j.ArtifactsFile = &ArtifactFile{Filename: g.str(), Size: g.num()}
	}
	if g.r.IntN(3) > 0 {
		j.Artifacts = []JobArtifact{}
		for range g.r.IntN(4) {
			j.Artifacts = append(j.Artifacts, JobArtifact{FileType: g.str(), Size: g.num(), Filename: g.str(), FileFormat: g.str()})
		}
	}
	if g.yes() {
		j.Runner = &Runner{ID: g.num(), Description: g.str(), IPAddress: g.strp(), Active: g.yes(), Paused: g.yes(),
			IsShared: g.yes(), RunnerType: g.str(), Name: g.strp(), Online: g.yes(), CreatedAt: Time{g.tm()},
			Status: g.str(), JobExecutionStatus: g.str()}
		if g.yes() {
			ub := g.userBasic()
			j.Runner.CreatedBy = &ub
		}
	}
	switch g.r.IntN(3) {
	case 0: // a bridge rendered as Job: the key is left out
	case 1:
		j.RunnerManager = []byte("null")
	default:
		j.RunnerManager = appendRunnerManager(nil, g.runnerManager())
	}
	return j
}

var allStatuses = []string{string(ci.StatusCreated), string(ci.StatusWaitingForResource), string(ci.StatusPreparing), string(ci.StatusWaitingForCallback),
	string(ci.StatusPending), string(ci.StatusRunning), string(ci.StatusSuccess), string(ci.StatusFailed),
	string(ci.StatusCanceled), string(ci.StatusCanceling), string(ci.StatusSkipped), string(ci.StatusManual),
	string(ci.StatusScheduled)}

// TestJobJSONMatchesEncodingJSON holds the hand-written encoder to
// encoding/json's bytes for thousands of varied jobs, bridges and lists.
func TestJobJSONMatchesEncodingJSON(t *testing.T) {
	g := jobGen{rand.New(rand.NewPCG(14, 2026))}
	for i := range 3000 {
		status := allStatuses[i%len(allStatuses)]
		j := g.job(status)
		if got, want := appendJob(nil, j), reflectJSON(t, j); !bytes.Equal(got, want) {
			t.Fatalf("job %d:\n got %s\nwant %s", i, got, want)
		}
		br := &Bridge{JobBasic: g.jobBasic(status), DownstreamPipeline: g.pipeline()}
		if got, want := appendBridge(nil, br), reflectJSON(t, br); !bytes.Equal(got, want) {
			t.Fatalf("bridge %d:\n got %s\nwant %s", i, got, want)
		}
		m := g.runnerManager()
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRunnerManager(nil, m); !bytes.Equal(got, want) {
			t.Fatalf("runner manager %d:\n got %s\nwant %s", i, got, want)
		}
	}
	lists := []struct {
		name string
		jobs []*Job
	}{
		{"nil", nil},
		{"empty", []*Job{}},
		{"nil element", []*Job{nil, g.job("success")}},
		{"page", func() []*Job {
			out := make([]*Job, 0, 100)
			for i := range 100 {
				out = append(out, g.job(allStatuses[i%len(allStatuses)]))
			}
			return out
		}()},
	}
	for _, tc := range lists {
		if got, want := appendArray(nil, tc.jobs, appendJob), reflectJSON(t, tc.jobs); !bytes.Equal(got, want) {
			t.Errorf("%s list:\n got %s\nwant %s", tc.name, got, want)
		}
	}
	bridges := []*Bridge{{JobBasic: g.jobBasic("running")}, nil}
	if got, want := appendArray(nil, bridges, appendBridge), reflectJSON(t, bridges); !bytes.Equal(got, want) {
		t.Errorf("bridges:\n got %s\nwant %s", got, want)
	}
	if got, want := appendArray(nil, []*Bridge{}, appendBridge), reflectJSON(t, []*Bridge{}); !bytes.Equal(got, want) {
		t.Errorf("empty bridges: got %s want %s", got, want)
	}
}

package api

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Job entities are the bulk of every jobs page (a page of 100 is ~240 kB),
// and encoding/json's reflection was the largest part of its CPU. The
// functions below write Job, Bridge and what they embed by hand. Their
// output is byte-identical to httpx.WriteJSON's (encoding/json with HTML
// escaping off): same key order, null rules, string escaping, and the
// types' own MarshalJSON forms for Time, ZonedTime and Float.
// TestJobJSONMatchesEncodingJSON holds them to that.

const jsonHex = "0123456789abcdef"

// appendJSONString appends s as encoding/json's appendString does: \b \f
// \n \r \t and the other control bytes escaped, invalid UTF-8 as \ufffd,
// U+2028/U+2029 always escaped, and <, > and & too when html is set.
func appendJSONString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', jsonHex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendKey appends "key": (keys are constant ASCII needing no escape).
func appendKey(b []byte, key string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendBool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

func appendStringPtr(b []byte, s *string, html bool) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s, html)
}

func appendStrings(b []byte, ss []string, html bool) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s, html)
	}
	return append(b, ']')
}

// appendTime is Time.MarshalJSON without the allocations.
func appendTime(b []byte, t Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, '"')
}

func appendTimePtr(b []byte, t *Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendTime(b, *t)
}

// appendZonedTime is ZonedTime.MarshalJSON.
func appendZonedTime(b []byte, t ZonedTime) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000-07:00")
	return append(b, '"')
}

func appendFloatPtr(b []byte, f *Float) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	return append(b, RubyFloat(float64(*f))...)
}

// appendStringMap writes a map with its keys sorted, as encoding/json does.
func appendStringMap[V any](b []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k, false)
		b = append(b, ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

func appendUserBasicFields(b []byte, u *UserBasic, html bool) []byte {
	b = appendKey(b, "id")
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, ',')
	b = appendKey(b, "username")
	b = appendJSONString(b, u.Username, html)
	b = append(b, ',')
	b = appendKey(b, "name")
	b = appendJSONString(b, u.Name, html)
	b = append(b, ',')
	b = appendKey(b, "state")
	b = appendJSONString(b, u.State, html)
	b = append(b, ',')
	b = appendKey(b, "locked")
	b = appendBool(b, u.Locked)
	b = append(b, ',')
	b = appendKey(b, "avatar_url")
	b = appendJSONString(b, u.AvatarURL, html)
	b = append(b, ',')
	b = appendKey(b, "web_url")
	return appendJSONString(b, u.WebURL, html)
}

func appendUser(b []byte, u *User) []byte {
	if u == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	b = appendUserBasicFields(b, &u.UserBasic, false)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, u.CreatedAt)
	for _, f := range []struct {
		key string
		v   *string
	}{{"bio", u.Bio}, {"location", u.Location}} {
		b = append(b, ',')
		b = appendKey(b, f.key)
		b = appendStringPtr(b, f.v, false)
	}
	b = appendStringFields(b, false, []stringField{
		{"public_email", u.PublicEmail}, {"skype", u.Skype}, {"linkedin", u.Linkedin}, {"twitter", u.Twitter},
		{"discord", u.Discord}, {"website_url", u.WebsiteURL}, {"organization", u.Organization},
		{"job_title", u.JobTitle},
	})
	b = append(b, `,"pronouns":`...)
	b = appendStringPtr(b, u.Pronouns, false)
	b = append(b, `,"bot":`...)
	b = appendBool(b, u.Bot)
	b = append(b, `,"work_information":`...)
	b = appendStringPtr(b, u.WorkInformation, false)
	b = append(b, `,"followers":`...)
	b = strconv.AppendInt(b, int64(u.Followers), 10)
	b = append(b, `,"following":`...)
	b = strconv.AppendInt(b, int64(u.Following), 10)
	b = append(b, `,"is_followed":`...)
	b = appendBool(b, u.IsFollowed)
	b = append(b, `,"local_time":`...)
	b = appendStringPtr(b, u.LocalTime, false)
	return append(b, '}')
}

func appendCommit(b []byte, c *Commit) []byte {
	if c == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, c.ID, false)
	b = append(b, `,"short_id":`...)
	b = appendJSONString(b, c.ShortID, false)
	b = append(b, `,"created_at":`...)
	b = appendZonedTime(b, c.CreatedAt)
	b = append(b, `,"parent_ids":`...)
	b = appendStrings(b, c.ParentIDs, false)
	b = appendStringFields(b, false, []stringField{
		{"title", c.Title}, {"message", c.Message}, {"author_name", c.AuthorName}, {"author_email", c.AuthorEmail},
	})
	b = append(b, `,"authored_date":`...)
	b = appendZonedTime(b, c.AuthoredDate)
	b = append(b, `,"committer_name":`...)
	b = appendJSONString(b, c.CommitterName, false)
	b = append(b, `,"committer_email":`...)
	b = appendJSONString(b, c.CommitterEmail, false)
	b = append(b, `,"committed_date":`...)
	b = appendZonedTime(b, c.CommittedDate)
	b = append(b, `,"trailers":`...)
	b = appendStringMap(b, c.Trailers, func(b []byte, v string) []byte { return appendJSONString(b, v, false) })
	b = append(b, `,"extended_trailers":`...)
	b = appendStringMap(b, c.ExtendedTrailers, func(b []byte, v []string) []byte { return appendStrings(b, v, false) })
	b = append(b, `,"web_url":`...)
	b = appendJSONString(b, c.WebURL, false)
	return append(b, '}')
}

func appendPipelineBasic(b []byte, p *PipelineBasic) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, p.ID, 10)
	b = append(b, `,"iid":`...)
	b = strconv.AppendInt(b, p.IID, 10)
	b = append(b, `,"project_id":`...)
	b = strconv.AppendInt(b, p.ProjectID, 10)
	b = appendStringFields(b, false, []stringField{
		{"sha", p.SHA}, {"ref", p.Ref}, {"status", p.Status}, {"source", p.Source},
	})
	b = append(b, `,"created_at":`...)
	b = appendTime(b, p.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, p.UpdatedAt)
	b = append(b, `,"web_url":`...)
	b = appendJSONString(b, p.WebURL, false)
	return append(b, '}')
}

func appendRunner(b []byte, r *Runner) []byte {
	if r == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, r.Description, false)
	b = append(b, `,"ip_address":`...)
	b = appendStringPtr(b, r.IPAddress, false)
	b = append(b, `,"active":`...)
	b = appendBool(b, r.Active)
	b = append(b, `,"paused":`...)
	b = appendBool(b, r.Paused)
	b = append(b, `,"is_shared":`...)
	b = appendBool(b, r.IsShared)
	b = append(b, `,"runner_type":`...)
	b = appendJSONString(b, r.RunnerType, false)
	b = append(b, `,"name":`...)
	b = appendStringPtr(b, r.Name, false)
	b = append(b, `,"online":`...)
	b = appendBool(b, r.Online)
	if r.CreatedBy != nil {
		b = append(b, `,"created_by":{`...)
		b = appendUserBasicFields(b, r.CreatedBy, false)
		b = append(b, '}')
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, r.CreatedAt)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, r.Status, false)
	b = append(b, `,"job_execution_status":`...)
	b = appendJSONString(b, r.JobExecutionStatus, false)
	return append(b, '}')
}

// appendRunnerManager writes m as json.Marshal does (HTML escaped): Job
// carries it as a RawMessage, which the outer encoder copies as it is.
func appendRunnerManager(b []byte, m *RunnerManager) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = appendStringFields(b, true, []stringField{
		{"system_id", m.SystemID}, {"version", m.Version}, {"revision", m.Revision}, {"platform", m.Platform},
		{"architecture", m.Architecture},
	})
	b = append(b, `,"created_at":`...)
	b = appendTime(b, m.CreatedAt)
	b = append(b, `,"contacted_at":`...)
	b = appendTimePtr(b, m.ContactedAt)
	b = append(b, `,"ip_address":`...)
	b = appendStringPtr(b, m.IPAddress, true)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, m.Status, true)
	b = append(b, `,"job_execution_status":`...)
	b = appendJSONString(b, m.JobExecutionStatus, true)
	return append(b, '}')
}

// appendJobBasicFields writes JobBasic's keys without the braces, so Job
// and Bridge can add their own after them.
func appendJobBasicFields(b []byte, j *JobBasic) []byte {
	b = append(b, `"id":`...)
	b = strconv.AppendInt(b, j.ID, 10)
	b = appendStringFields(b, false, []stringField{
		{"status", j.Status}, {"stage", j.Stage}, {"name", j.Name}, {"ref", j.Ref},
	})
	b = append(b, `,"tag":`...)
	b = appendBool(b, j.Tag)
	b = append(b, `,"coverage":`...)
	b = appendFloatPtr(b, j.Coverage)
	b = append(b, `,"allow_failure":`...)
	b = appendBool(b, j.AllowFailure)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, j.CreatedAt)
	b = append(b, `,"started_at":`...)
	b = appendTimePtr(b, j.StartedAt)
	b = append(b, `,"finished_at":`...)
	b = appendTimePtr(b, j.FinishedAt)
	b = append(b, `,"erased_at":`...)
	b = appendTimePtr(b, j.ErasedAt)
	b = append(b, `,"duration":`...)
	b = appendFloatPtr(b, j.Duration)
	b = append(b, `,"queued_duration":`...)
	b = appendFloatPtr(b, j.QueuedDuration)
	b = append(b, `,"user":`...)
	b = appendUser(b, j.User)
	b = append(b, `,"commit":`...)
	b = appendCommit(b, j.Commit)
	b = append(b, `,"pipeline":`...)
	b = appendPipelineBasic(b, j.Pipeline)
	if j.FailureReason != nil {
		b = append(b, `,"failure_reason":`...)
		b = appendJSONString(b, *j.FailureReason, false)
	}
	b = append(b, `,"web_url":`...)
	b = appendJSONString(b, j.WebURL, false)
	b = append(b, `,"project":{"ci_job_token_scope_enabled":`...)
	b = appendBool(b, j.Project.CIJobTokenScopeEnabled)
	return append(b, '}')
}

// appendJob writes j as encoding/json writes a *Job.
func appendJob(b []byte, j *Job) []byte {
	if j == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	b = appendJobBasicFields(b, &j.JobBasic)
	if j.ArtifactsFile != nil {
		b = append(b, `,"artifacts_file":{"filename":`...)
		b = appendJSONString(b, j.ArtifactsFile.Filename, false)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, j.ArtifactsFile.Size, 10)
		b = append(b, '}')
	}
	b = append(b, `,"artifacts":`...)
	if j.Artifacts == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range j.Artifacts {
			a := &j.Artifacts[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"file_type":`...)
			b = appendJSONString(b, a.FileType, false)
			b = append(b, `,"size":`...)
			b = strconv.AppendInt(b, a.Size, 10)
			b = append(b, `,"filename":`...)
			b = appendJSONString(b, a.Filename, false)
			b = append(b, `,"file_format":`...)
			b = appendJSONString(b, a.FileFormat, false)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"runner":`...)
	b = appendRunner(b, j.Runner)
	if len(j.RunnerManager) > 0 {
		// Written by appendRunnerManager or json.Marshal: already compact.
		b = append(b, `,"runner_manager":`...)
		b = append(b, j.RunnerManager...)
	}
	b = append(b, `,"artifacts_expire_at":`...)
	b = appendTimePtr(b, j.ArtifactsExpireAt)
	b = append(b, `,"archived":`...)
	b = appendBool(b, j.Archived)
	b = append(b, `,"tag_list":`...)
	b = appendStrings(b, j.TagList, false)
	return append(b, '}')
}

// appendBridge writes br as encoding/json writes a *Bridge.
func appendBridge(b []byte, br *Bridge) []byte {
	if br == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	b = appendJobBasicFields(b, &br.JobBasic)
	b = append(b, `,"downstream_pipeline":`...)
	b = appendPipelineBasic(b, br.DownstreamPipeline)
	return append(b, '}')
}

// appendArray writes items as a JSON array, as encoding/json writes a slice.
func appendArray[T any](b []byte, items []T, one func([]byte, T) []byte) []byte {
	if items == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = one(b, it)
	}
	return append(b, ']')
}

// rawJSON writes an already encoded body as httpx.WriteJSON would.
func (q *req) rawJSON(status int, body []byte) error {
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(status)
	_, _ = q.w.Write(body)
	return nil
}

// listBufs recycles the buffers pages are encoded into (~240 kB for 100
// jobs): allocating and clearing a fresh one was a sixth of the encoding.
// The body is written before the buffer goes back.
var listBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeList answers with items encoded by one as a JSON array.
func writeList[T any](q *req, items []T, one func([]byte, T) []byte) error {
	buf := listBufs.Get().(*[]byte)
	b := appendArray((*buf)[:0], items, one)
	err := q.rawJSON(http.StatusOK, b)
	if cap(b) <= 4<<20 { // an unusually large page is not kept
		*buf = b
		listBufs.Put(buf)
	}
	return err
}

// jobsJSON answers with a list of jobs.
func (q *req) jobsJSON(jobs []*Job) error { return writeList(q, jobs, appendJob) }

// bridgesJSON answers with a list of bridges.
func (q *req) bridgesJSON(bridges []*Bridge) error { return writeList(q, bridges, appendBridge) }

// stringField is one string-valued key of an entity.
type stringField struct{ key, v string }

// appendStringFields writes ,"key":"value" for each field in order
// (html as appendJSONString).
func appendStringFields(b []byte, html bool, fs []stringField) []byte {
	for _, f := range fs {
		b = append(b, ',')
		b = appendKey(b, f.key)
		b = appendJSONString(b, f.v, html)
	}
	return b
}

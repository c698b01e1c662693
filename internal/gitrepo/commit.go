package gitrepo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Commit is the metadata of one commit, with the fields GitLab exposes.
type Commit struct {
	// ID is the full commit sha; ShortID its first 8 characters, the
	// length GitLab uses for short_id and CI_COMMIT_SHORT_SHA.
	ID, ShortID string
	// Title is the first line of Message; Message is the raw commit
	// message, including its trailing newline, as GitLab returns it.
	Title, Message string
	// ParentIDs is empty (not nil) for a root commit.
	ParentIDs []string

	AuthorName, AuthorEmail string
	// AuthoredDate is in a fixed zone with the commit's own UTC offset.
	AuthoredDate time.Time

	CommitterName, CommitterEmail string
	// CommittedDate is in a fixed zone with the commit's own UTC offset.
	CommittedDate time.Time

	// Trailers maps trailer keys (Signed-off-by, ...) to their unfolded
	// values; when a key repeats, the last value wins, as in GitLab's
	// commit entity. Never nil.
	Trailers map[string]string
}

// commitFormat asks git log for every field in one call. Fields are NUL
// separated; trailers use \x01 between entries and \x02 between key and
// value. The message comes last so it may contain anything but NUL.
const commitFormat = "%H%x00%P%x00%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00" +
	"%(trailers:only,unfold,separator=%x01,key_value_separator=%x02)%x00%B"

const commitFields = 10

// Commit returns the commit rev names (a sha, branch, tag or any revision
// git understands). The error wraps fs.ErrNotExist when there is no such
// commit.
func (r *Repo) Commit(ctx context.Context, rev string) (*Commit, error) {
	if err := checkRev(rev); err != nil {
		return nil, fmt.Errorf("gitrepo: commit: %w", err)
	}
	cacheable := isObjectName(rev)
	if cacheable {
		if c := objects.commit(r.Dir, rev); c != nil {
			return c, nil
		}
	}
	// The -c settings neutralise configuration that would change the
	// output: signature verification lines and a non-UTF-8 log encoding.
	out, err := r.run(ctx, nil,
		"-c", "log.showSignature=false", "-c", "i18n.logOutputEncoding=UTF-8",
		"log", "-1", "--no-color", "--date=raw", "--format="+commitFormat,
		"--end-of-options", rev+"^{commit}", "--")
	if err != nil {
		return nil, r.revError(ctx, err, "commit "+rev, rev+"^{commit}")
	}
	c, err := parseCommit(string(out))
	if err != nil {
		return nil, fmt.Errorf("gitrepo: commit %s: %w", rev, err)
	}
	if cacheable && c.ID == rev {
		objects.putCommit(r.Dir, rev, c)
	}
	return c, nil
}

func parseCommit(out string) (*Commit, error) {
	f := strings.SplitN(out, "\x00", commitFields)
	if len(f) != commitFields {
		return nil, fmt.Errorf("malformed git log output (%d fields)", len(f))
	}
	authored, err := parseRawDate(f[4])
	if err != nil {
		return nil, err
	}
	committed, err := parseRawDate(f[7])
	if err != nil {
		return nil, err
	}
	// git log terminates each record with a newline of its own after %B.
	msg := strings.TrimSuffix(f[9], "\n")
	c := &Commit{
		ID:             f[0],
		ShortID:        f[0][:min(8, len(f[0]))],
		Title:          firstLine(msg),
		Message:        msg,
		ParentIDs:      strings.Fields(f[1]),
		AuthorName:     f[2],
		AuthorEmail:    f[3],
		AuthoredDate:   authored,
		CommitterName:  f[5],
		CommitterEmail: f[6],
		CommittedDate:  committed,
		Trailers:       map[string]string{},
	}
	if c.ParentIDs == nil {
		c.ParentIDs = []string{}
	}
	if f[8] != "" {
		for t := range strings.SplitSeq(f[8], "\x01") {
			if k, v, ok := strings.Cut(t, "\x02"); ok {
				c.Trailers[k] = v
			}
		}
	}
	return c, nil
}

// parseRawDate parses git's raw date, "<unix seconds> <+hhmm>", keeping
// the offset as a fixed zone so the commit's own time zone survives (GitLab
// shows authored_date with the author's offset).
func parseRawDate(s string) (time.Time, error) {
	secStr, zone, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || len(zone) != 5 || (zone[0] != '+' && zone[0] != '-') {
		return time.Time{}, fmt.Errorf("malformed date %q", s)
	}
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("malformed date %q: %w", s, err)
	}
	hh, err1 := strconv.Atoi(zone[1:3])
	mm, err2 := strconv.Atoi(zone[3:5])
	if err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("malformed date zone %q", s)
	}
	off := hh*3600 + mm*60
	if zone[0] == '-' {
		off = -off
	}
	return time.Unix(sec, 0).In(time.FixedZone("", off)), nil
}

// firstLine returns msg up to the first line break; GitLab splits on
// either \r or \n.
func firstLine(msg string) string {
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		return msg[:i]
	}
	return msg
}

// ShortTitle returns Title shortened the way GitLab's commit entity
// shortens its "title" field: titles of 100 characters or more are cut at a
// word boundary to at most 81 characters, ending in "…". CI_COMMIT_TITLE
// uses the full Title.
func (c *Commit) ShortTitle() string {
	const limit, keep = 100, 80 // keep = 81 minus the one-character omission
	if utf8.RuneCountInString(c.Title) < limit {
		return c.Title
	}
	runes := []rune(c.Title)
	stop := keep
	// Cut at the last space at or before the limit, like Rails'
	// String#truncate with separator: ' '.
	for i := min(keep, len(runes)-1); i >= 0; i-- {
		if runes[i] == ' ' {
			stop = i
			break
		}
	}
	return string(runes[:stop]) + "…"
}

package web

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	terminal "github.com/buildkite/terminal-to-html/v3"

	"github.com/gantryci/gantry/internal/ci"
)

// This file turns a job log (the runner's bytes) into numbered lines with
// their sections. ANSI colours are rendered by Buildkite's terminal-to-html;
// GitLab's section markers and the runner's timestamps are parsed here.

// sectionRE is a GitLab section marker: section_start:<unix>:<name>[opts]
// or section_end:<unix>:<name>, each followed by \r and ESC[0K
// (gitlab-runner's helpers/trace/section.go; parsed by GitLab's
// lib/gitlab/ci/ansi2json/parser.rb).
var sectionRE = regexp.MustCompile(`section_(start|end):(\d{1,12}):([A-Za-z0-9_.\-]{1,100})(\[[^\]\r\n]{0,200}\])?\r?(\x1b\[0?K)?`)

// timestampRE is the prefix gitlab-runner writes when timestamps are on
// (FF_TIMESTAMPS): RFC 3339 time, stream id and type, optional "+".
var timestampRE = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) [0-9a-f]{2}[OE]\+? ?`)

// ansiRE matches escape sequences, for plain-text search.
var ansiRE = regexp.MustCompile(`\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])`)

// section is a folded part of the log.
type section struct {
	Name      string
	Start     int // line of the header (1-based)
	End       int // last line, 0 while open
	StartTS   int64
	EndTS     int64
	Collapsed bool
	Parent    int // index+1 of the enclosing section, 0 at top level
}

// logIndex is where each line starts and which sections exist.
type logIndex struct {
	// first is the number of lines before starts[0] that the index no
	// longer holds (a live stream forgets the lines it has sent).
	first int
	// starts is the byte offset in the log of each line from first+1 on.
	starts []int
	// base is the log offset of the data that line and render are given
	// (0 for a whole log).
	base int
	// complete is the number of lines ended by a newline; a last partial
	// line (a runner still writing) is the line after it.
	complete int
	sections []section
	// open is the stack of section indexes open after the last line.
	open []int
	// secrets are masked in each line render draws (a stream renders raw
	// bytes); nil when the data is masked already.
	secrets [][]byte
}

// indexLog scans a log once: line starts and the section tree.
func indexLog(data []byte) *logIndex {
	ix := &logIndex{}
	ix.scan(data, 0)
	return ix
}

// indexWindow indexes a log for showing lines from line from on: the line
// count and the section tree of the whole log, but line offsets only from
// from on, and markers found by searching for them rather than line by
// line. For the tail of a 100 MB log it costs a few fast byte scans
// instead of indexing a million lines.
func indexWindow(data []byte, from int) *logIndex {
	// The window's first byte: after from-1 newlines.
	off, ln := 0, 1
	for ln < from {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
		ln++
	}
	ix := &logIndex{}
	// Sections opened or closed before the window, with their line numbers.
	marker := []byte("section_")
	pos, line := 0, 1
	for {
		i := bytes.Index(data[pos:off], marker)
		if i < 0 {
			break
		}
		at := pos + i
		line += bytes.Count(data[pos:at], []byte{'\n'})
		start := bytes.LastIndexByte(data[:at], '\n') + 1
		end := at + bytes.IndexByte(data[at:off], '\n')
		if end < at {
			end = off
		}
		ix.markers(data[start:end], line)
		pos = end
	}
	ix.first, ix.complete = ln-1, ln-1
	ix.scan(data[off:], off)
	ix.base = 0
	return ix
}

// lineCount is the number of lines of a log, a partial last one included.
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

// scan indexes data, the log from byte offset base on, whose lines follow
// those already indexed (all of them complete).
func (ix *logIndex) scan(data []byte, base int) {
	ix.base = base
	off := 0
	for off < len(data) {
		ix.starts = append(ix.starts, base+off)
		n := bytes.IndexByte(data[off:], '\n')
		end := len(data)
		if n >= 0 {
			end = off + n
			ix.complete++
		}
		line := data[off:end]
		if bytes.Contains(line, []byte("section_")) {
			ix.markers(line, ix.lines())
		}
		if n < 0 {
			break
		}
		off = end + 1
	}
}

// forget drops the line offsets held so far, keeping the line count and
// the sections: the next scan continues the log.
func (ix *logIndex) forget() {
	ix.first += len(ix.starts)
	ix.starts = nil
}

// clone copies the index so that scanning more into the copy leaves ix as
// it is.
func (ix *logIndex) clone() *logIndex {
	c := *ix
	c.starts = slices.Clip(ix.starts)
	c.sections = slices.Clone(ix.sections)
	c.open = slices.Clone(ix.open)
	return &c
}

// markers records the section starts and ends found on line number ln.
func (ix *logIndex) markers(line []byte, ln int) {
	for _, m := range sectionRE.FindAllSubmatch(line, -1) {
		ts, _ := strconv.ParseInt(string(m[2]), 10, 64)
		name := string(m[3])
		if string(m[1]) == "start" {
			sec := section{Name: name, Start: ln, StartTS: ts, Collapsed: bytes.Contains(m[4], []byte("collapsed=true"))}
			if len(ix.open) > 0 {
				sec.Parent = ix.open[len(ix.open)-1] + 1
			}
			ix.sections = append(ix.sections, sec)
			ix.open = append(ix.open, len(ix.sections)-1)
			continue
		}
		// An end closes the innermost open section of that name and any
		// left open inside it, as GitLab's parser does.
		for i := len(ix.open) - 1; i >= 0; i-- {
			if ix.sections[ix.open[i]].Name != name {
				continue
			}
			for _, k := range ix.open[i:] {
				ix.sections[k].End = max(ln-1, ix.sections[k].Start)
				if ix.sections[k].Start == ln {
					ix.sections[k].End = ln
				}
				ix.sections[k].EndTS = ts
			}
			ix.open = ix.open[:i]
			break
		}
	}
}

// lines is the number of lines, a partial last one included.
func (ix *logIndex) lines() int { return ix.first + len(ix.starts) }

// line returns line n's bytes (1-based, at least first+1), without its
// newline.
func (ix *logIndex) line(data []byte, n int) []byte {
	i := n - 1 - ix.first
	from := ix.starts[i] - ix.base
	to := len(data)
	if i+1 < len(ix.starts) {
		to = ix.starts[i+1] - 1 - ix.base
	} else if k := bytes.IndexByte(data[from:], '\n'); k >= 0 {
		to = from + k
	}
	return data[from:to]
}

// logLine is one rendered line as the page's script receives it.
type logLine struct {
	N    int    `json:"n"`
	HTML string `json:"h"`
	// TS is the runner's timestamp, when the log has them.
	TS string `json:"t,omitempty"`
	// Sec is the chain of sections (ids, outermost first) the line is in;
	// Head is set on a section's header line.
	Sec     []int    `json:"s,omitempty"`
	Head    *secHead `json:"hd,omitempty"`
	Partial bool     `json:"p,omitempty"`
}

// secHead describes the section a header line opens.
type secHead struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	Duration  string `json:"dur,omitempty"`
	Collapsed bool   `json:"collapsed,omitempty"`
}

// render renders lines [from, to] (1-based, inclusive).
func (ix *logIndex) render(data []byte, from, to int) []logLine {
	from, to = max(from, ix.first+1), min(to, ix.lines())
	out := make([]logLine, 0, max(to-from+1, 0))
	heads := map[int]int{}
	for i, sec := range ix.sections {
		heads[sec.Start] = i
	}
	for n := from; n <= to; n++ {
		raw := maskSecrets(ix.line(data, n), ix.secrets)
		l := logLine{N: n, Partial: n > ix.complete}
		if m := timestampRE.FindSubmatch(raw); m != nil {
			l.TS = string(m[1])
			raw = raw[len(m[0]):]
		}
		raw = sectionRE.ReplaceAll(raw, nil)
		l.HTML = terminal.Render(truecolorTo256(raw))
		l.Sec = ix.chain(n)
		if i, ok := heads[n]; ok {
			sec := ix.sections[i]
			h := &secHead{ID: i + 1, Name: sec.Name, Collapsed: sec.Collapsed}
			if sec.End > 0 && sec.EndTS >= sec.StartTS {
				h.Duration = fmtClock(sec.EndTS - sec.StartTS)
			}
			l.Head = h
			if len(l.Sec) > 0 && l.Sec[len(l.Sec)-1] == i+1 {
				l.Sec = l.Sec[:len(l.Sec)-1]
			}
		}
		out = append(out, l)
	}
	return out
}

// chain is the ids of the sections containing line n, outermost first.
func (ix *logIndex) chain(n int) []int {
	var c []int
	for i, sec := range ix.sections {
		if sec.Start <= n && (sec.End == 0 || n <= sec.End) {
			c = append(c, i+1)
		}
	}
	return c
}

// fmtClock prints a section duration as GitLab does: 00:42 or 01:02:03.
func fmtClock(sec int64) string {
	h, m, s := sec/3600, sec/60%60, sec%60
	if h > 0 {
		return strconv.FormatInt(h, 10) + ":" + pad2(m) + ":" + pad2(s)
	}
	return pad2(m) + ":" + pad2(s)
}

func pad2(v int64) string {
	if v < 10 {
		return "0" + strconv.FormatInt(v, 10)
	}
	return strconv.FormatInt(v, 10)
}

// plainLine is a line without escapes and markers, for search.
func plainLine(raw []byte) string {
	if m := timestampRE.Find(raw); m != nil {
		raw = raw[len(m):]
	}
	raw = sectionRE.ReplaceAll(raw, nil)
	raw = ansiRE.ReplaceAll(raw, nil)
	if i := bytes.LastIndexByte(raw, '\r'); i >= 0 {
		raw = raw[i+1:]
	}
	return string(raw)
}

// match is one search result in a log.
type match struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

// searchLog finds up to limit lines containing q (case-insensitive) over
// the whole log, however little of it the page has rendered.
func searchLog(data []byte, q string, limit int) []match {
	if q == "" || limit <= 0 {
		return nil
	}
	lq := strings.ToLower(q)
	var out []match
	n := 0
	for len(data) > 0 {
		n++
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		// A cheap byte test first: most lines do not match.
		if !bytes.Contains(bytes.ToLower(line), []byte(lq)) {
			continue
		}
		text := plainLine(line)
		if !strings.Contains(strings.ToLower(text), lq) {
			continue
		}
		if len(text) > 300 {
			text = text[:300] + "…"
		}
		out = append(out, match{Line: n, Text: text})
		if len(out) >= limit {
			break
		}
	}
	return out
}

// readLog returns a job's log, masked: the live chunks while it runs, the
// archived trace once it completed.
func (s *Server) readLog(ctx context.Context, j *ci.Job) ([]byte, error) {
	data, err := s.readRawLog(ctx, j, 0)
	if err != nil {
		return nil, err
	}
	secrets, err := s.secrets(ctx, j)
	if err != nil {
		return nil, err
	}
	return maskSecrets(data, secrets), nil
}

// readRawLog returns the log from byte offset off on, unmasked: the live
// chunks from there (ReadTraceFrom reads only those), else, for the whole
// log or a job that completed, the archived trace from off.
func (s *Server) readRawLog(ctx context.Context, j *ci.Job, off int64) ([]byte, error) {
	data, err := s.st.ReadTraceFrom(ctx, j.ID, off)
	if err != nil || len(data) > 0 || (off > 0 && !j.Status.Complete()) {
		return data, err
	}
	arts, err := s.st.ArtifactsByJobIDs(ctx, []int64{j.ID})
	if err != nil {
		return nil, err
	}
	for _, a := range arts[j.ID] {
		if a.FileType != "trace" {
			continue
		}
		f, err := s.cfg.Blobs.Open(ctx, a.BlobKey)
		if err != nil {
			return nil, nil
		}
		defer f.Close()
		if off >= f.Size() {
			return nil, nil
		}
		return io.ReadAll(io.NewSectionReader(f, off, f.Size()-off))
	}
	return nil, nil
}

// secrets are the values of the project's and pipeline's masked
// variables: the UI replaces them by [MASKED], as the runner does, so a
// log stored by an older or foreign runner still never shows them.
func (s *Server) secrets(ctx context.Context, j *ci.Job) ([][]byte, error) {
	vars, err := s.st.ListProjectVariables(ctx, j.ProjectID)
	if err != nil {
		return nil, err
	}
	var secrets [][]byte
	for _, v := range vars {
		if v.Masked && len(v.Value) >= 8 {
			secrets = append(secrets, []byte(v.Value))
		}
	}
	ivs, err := s.st.ListInstanceVariables(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range ivs {
		if v.Masked && len(v.Value) >= 8 {
			secrets = append(secrets, []byte(v.Value))
		}
	}
	if pl, err := s.st.PipelineByID(ctx, j.PipelineID); err == nil {
		for _, v := range pl.Variables {
			if v.Masked && len(v.Value) >= 8 {
				secrets = append(secrets, []byte(v.Value))
			}
		}
	} else if !isNotFound(err) {
		return nil, err
	}
	return secrets, nil
}

// maskSecrets replaces each secret in data by [MASKED].
func maskSecrets(data []byte, secrets [][]byte) []byte {
	for _, sec := range secrets {
		if bytes.Contains(data, sec) {
			data = bytes.ReplaceAll(data, sec, []byte("[MASKED]"))
		}
	}
	return data
}

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

	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/tracelog"
)

// This file turns a job log (the runner's bytes) into numbered lines with
// their sections. ANSI colours are rendered by Buildkite's terminal-to-html;
// GitLab's section markers and the runner's timestamps are parsed here.

// sectionRE is a GitLab section marker (tracelog parses them).
var sectionRE = tracelog.SectionRE

// timestampRE is the prefix gitlab-runner writes when timestamps are on
// (FF_TIMESTAMPS): RFC 3339 time, stream id and type, optional "+".
var timestampRE = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) [0-9a-f]{2}[OE]\+? ?`)

// ansiRE matches escape sequences, for plain-text search.
var ansiRE = regexp.MustCompile(`\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])`)

// section is a folded part of the log.
type section struct {
	ID        int // 1-based, in order of start over the whole log
	Name      string
	Start     int // line of the header (1-based)
	End       int // last line, 0 while open
	StartTS   int64
	EndTS     int64
	Collapsed bool
	Parent    int // ID of the enclosing section, 0 at top level
}

// logIndex is where each line starts and which sections exist.
type logIndex struct {
	// first is the number of lines before starts[0] that the index does
	// not hold (a window of a large log, or lines a live stream has sent).
	first int
	// starts is the byte offset in the log of each line from first+1 on.
	starts []int
	// base is the log offset of the data that line and render are given
	// (0 for a whole log).
	base int
	// complete is the number of lines ended by a newline; a last partial
	// line (a runner still writing) is the line after it.
	complete int
	// st is the scan of the log's sections up to the end of what is
	// indexed; sections are those open at the window's start and those
	// started since, in order of ID.
	st       tracelog.State
	sections []section
	// secrets are masked in each line render draws (a stream renders raw
	// bytes); nil when the data is masked already.
	secrets [][]byte
}

// indexLog scans a whole log: line starts and the section tree.
func indexLog(data []byte) *logIndex {
	ix := &logIndex{}
	ix.scan(data, 0)
	return ix
}

// indexWindow indexes a whole log for showing lines from line from on:
// the line count and the sections, but line offsets only from from on.
func indexWindow(data []byte, from int) *logIndex {
	ix := resumeIndex(tracelog.State{}, 0)
	off := ix.skip(data, from)
	ix.scan(data[off:], off)
	ix.base = 0
	return ix
}

// resumeIndex starts an index at st, the scan state of the log before
// byte offset base: its line count and the sections open there.
func resumeIndex(st tracelog.State, base int) *logIndex {
	ix := &logIndex{st: st.Clone(), base: base, first: st.Lines, complete: st.Lines}
	for _, o := range st.Open {
		ix.sections = append(ix.sections, section{ID: o.ID, Name: o.Name, Start: o.Start, StartTS: o.TS, Collapsed: o.Collapsed, Parent: o.Parent})
	}
	return ix
}

// skip scans data (the log from ix.st.Off on) for sections up to the
// start of line from and returns that start's index in data (the last
// line's when from is beyond it). Lines before from get no offsets.
func (ix *logIndex) skip(data []byte, from int) int {
	off := 0
	for ix.st.Lines < from-1 {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		ix.st.Feed(data[off:off+i+1], ix.mark)
		off += i + 1
	}
	ix.first, ix.complete = ix.st.Lines, ix.st.Lines
	return off
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
// those already indexed (all of them complete). An unfinished last line's
// markers are decided as the log stands.
func (ix *logIndex) scan(data []byte, base int) {
	ix.base = base
	off := 0
	for off < len(data) {
		ix.starts = append(ix.starts, base+off)
		n := bytes.IndexByte(data[off:], '\n')
		if n < 0 {
			break
		}
		ix.complete++
		off += n + 1
	}
	ix.st.Feed(data, ix.mark)
	ix.st.Flush(ix.mark)
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
	c.st = ix.st.Clone()
	return &c
}

// mark records a section start or end.
func (ix *logIndex) mark(m tracelog.Marker) {
	if m.Start {
		o := m.Section
		ix.sections = append(ix.sections, section{ID: o.ID, Name: o.Name, Start: o.Start, StartTS: o.TS, Collapsed: o.Collapsed, Parent: o.Parent})
		return
	}
	for _, c := range m.Closed {
		for k := len(ix.sections) - 1; k >= 0; k-- {
			if sec := &ix.sections[k]; sec.ID == c.ID {
				sec.close(m.Line, m.TS)
				break
			}
		}
	}
}

// close ends a section at an end marker on line ln, as GitLab's parser
// does: the marker's line is not part of it, unless it is its header's.
func (sec *section) close(ln int, ts int64) {
	sec.End = max(ln-1, sec.Start)
	sec.EndTS = ts
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
			h := &secHead{ID: sec.ID, Name: sec.Name, Collapsed: sec.Collapsed}
			if sec.End > 0 && sec.EndTS >= sec.StartTS {
				h.Duration = fmtClock(sec.EndTS - sec.StartTS)
			}
			l.Head = h
			if len(l.Sec) > 0 && l.Sec[len(l.Sec)-1] == sec.ID {
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
	for _, sec := range ix.sections {
		if sec.Start <= n && (sec.End == 0 || n <= sec.End) {
			c = append(c, sec.ID)
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
	sr := newLogSearch(q, limit, nil)
	sr.feed(data)
	sr.end()
	return sr.out
}

// logSearch is a search fed the log piece by piece, holding only the
// unfinished line between pieces.
type logSearch struct {
	lq      []byte
	limit   int
	secrets [][]byte
	n       int
	carry   []byte
	out     []match
}

func newLogSearch(q string, limit int, secrets [][]byte) *logSearch {
	return &logSearch{lq: []byte(strings.ToLower(q)), limit: limit, secrets: secrets}
}

// done reports whether more of the log can change the result.
func (sr *logSearch) done() bool { return len(sr.lq) == 0 || len(sr.out) >= sr.limit }

// feed searches the next piece of the log.
func (sr *logSearch) feed(data []byte) {
	for len(data) > 0 && !sr.done() {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			sr.carry = append(sr.carry, data...)
			return
		}
		line := data[:i]
		if len(sr.carry) > 0 {
			line = append(sr.carry, line...)
			sr.carry = sr.carry[:0]
		}
		sr.line(line)
		data = data[i+1:]
	}
}

// end searches the unfinished last line.
func (sr *logSearch) end() {
	if len(sr.carry) > 0 && !sr.done() {
		sr.line(sr.carry)
	}
	sr.carry = nil
}

func (sr *logSearch) line(line []byte) {
	sr.n++
	line = maskSecrets(line, sr.secrets)
	// A cheap byte test first: most lines do not match.
	if !bytes.Contains(bytes.ToLower(line), sr.lq) {
		return
	}
	text := plainLine(line)
	if !strings.Contains(strings.ToLower(text), string(sr.lq)) {
		return
	}
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	sr.out = append(sr.out, match{Line: sr.n, Text: text})
}

// searchSource searches a log piece by piece, step bytes at a time.
func searchSource(src *logSource, q string, limit int, secrets [][]byte, step int64) ([]match, error) {
	sr := newLogSearch(q, limit, secrets)
	size := src.final().Off
	for off := int64(0); off < size && !sr.done(); off += step {
		data, err := src.read(off, min(off+step, size))
		if err != nil {
			return nil, err
		}
		sr.feed(data)
	}
	sr.end()
	return sr.out, nil
}

// searchStep is how much of a log a search reads at a time.
const searchStep = 4 << 20

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
	f, _, err := s.openTrace(ctx, j)
	if err != nil || f == nil {
		return nil, err
	}
	defer f.Close()
	if off >= f.Size() {
		return nil, nil
	}
	return io.ReadAll(io.NewSectionReader(f, off, f.Size()-off))
}

// openTrace opens a job's archived log and returns its blob key; nil when
// it has none (or its blob is gone).
func (s *Server) openTrace(ctx context.Context, j *ci.Job) (blob.File, string, error) {
	arts, err := s.st.ArtifactsByJobIDs(ctx, []int64{j.ID})
	if err != nil {
		return nil, "", err
	}
	for _, a := range arts[j.ID] {
		if a.FileType != "trace" {
			continue
		}
		f, err := s.cfg.Blobs.Open(ctx, a.BlobKey)
		if err != nil {
			return nil, "", nil
		}
		return f, a.BlobKey, nil
	}
	return nil, "", nil
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

// Package tracelog follows the structure of a job log as its bytes
// arrive: the line count and GitLab's collapsible sections
// (section_start / section_end markers, as gitlab-runner writes them in
// helpers/trace/section.go and GitLab parses them in
// lib/gitlab/ci/ansi2json/parser.rb). Its State after any byte offset is
// small, so the store keeps one per log chunk: a page then reads only the
// chunks holding the lines it shows, yet numbers them absolutely and knows
// the sections they are in.
package tracelog

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
)

// SectionRE is a GitLab section marker: section_start:<unix>:<name>[opts]
// or section_end:<unix>:<name>, each followed by \r and ESC[0K.
var SectionRE = regexp.MustCompile(`section_(start|end):(\d{1,12}):([A-Za-z0-9_.\-]{1,100})(\[[^\]\r\n]{0,200}\])?\r?(\x1b\[0?K)?`)

// anchored is SectionRE at the start of its input.
var anchored = regexp.MustCompile(`^(?:` + SectionRE.String() + `)`)

// maxMarker bounds a marker's length: with this many bytes after a
// "section_" (or the line's end) the match is decided.
const maxMarker = 8 + 6 + 12 + 1 + 100 + 202 + 1 + 4 + 1

var prefix = []byte("section_")

// Open is a section started and not yet ended.
type Open struct {
	ID        int    `json:"i"` // 1-based, in order of start over the whole log
	Name      string `json:"n"`
	Start     int    `json:"l"` // line of its header, 1-based
	TS        int64  `json:"t"`
	Collapsed bool   `json:"c,omitempty"`
	Parent    int    `json:"p,omitempty"` // ID of the enclosing section
}

// State is where a scan of a log stands after Off bytes.
type State struct {
	Off       int64  `json:"o"`
	Lines     int    `json:"l"` // newlines so far
	LineStart int64  `json:"s"` // offset of the current (unfinished) line
	Sections  int    `json:"n"` // sections started so far
	Open      []Open `json:"x,omitempty"`
	// Pend is the unfinished line from its first unresolved "section_"
	// (or a possible start of one) on: at most a marker's length.
	Pend []byte `json:"p,omitempty"`
}

// Marker is a section start or end found on line Line.
type Marker struct {
	Start bool
	Line  int
	TS    int64
	// Section is the section started, or for an end the innermost one it
	// closes; Closed lists every section an end closes (those left open
	// inside it too), innermost last.
	Section Open
	Closed  []Open
}

// Clone copies s so that feeding the copy leaves s as it is.
func (s State) Clone() State {
	s.Open = slices.Clone(s.Open)
	s.Pend = slices.Clone(s.Pend)
	return s
}

// Total is the number of lines, an unfinished last one included.
func (s *State) Total() int {
	if s.Off > s.LineStart {
		return s.Lines + 1
	}
	return s.Lines
}

// Feed scans data, the log's bytes from s.Off on, calling mark (if not
// nil) for each marker.
func (s *State) Feed(data []byte, mark func(Marker)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.Pend = append(s.Pend, data...)
			s.Off += int64(len(data))
			s.resolve(false, mark)
			return
		}
		s.Pend = append(s.Pend, data[:i]...)
		s.Off += int64(i + 1)
		s.resolve(true, mark)
		s.Lines++
		s.LineStart = s.Off
		s.Pend = s.Pend[:0]
		data = data[i+1:]
	}
	if len(s.Pend) == 0 {
		s.Pend = nil
	}
}

// Flush decides the markers of an unfinished last line as if it ended
// here, as a reader of the log so far sees it.
func (s *State) Flush(mark func(Marker)) {
	s.resolve(true, mark)
	s.Pend = nil
}

// resolve finds the markers in s.Pend, the current line from some point
// on; ended says the line is complete. It keeps in s.Pend only what more
// bytes could still turn into a marker.
func (s *State) resolve(ended bool, mark func(Marker)) {
	p := s.Pend
	for {
		i := bytes.Index(p, prefix)
		if i < 0 {
			break
		}
		if !ended && len(p)-i < maxMarker {
			s.Pend = append(s.Pend[:0], p[i:]...)
			return
		}
		m := anchored.FindSubmatch(p[i:])
		if m == nil {
			p = p[i+1:]
			continue
		}
		s.marker(m, mark)
		p = p[i+len(m[0]):]
	}
	if ended {
		s.Pend = s.Pend[:0]
		return
	}
	// Keep a tail that may be the beginning of "section_".
	k := len(p)
	for n := min(len(prefix)-1, len(p)); n > 0; n-- {
		if bytes.HasPrefix(prefix, p[len(p)-n:]) {
			k = len(p) - n
			break
		}
	}
	s.Pend = append(s.Pend[:0], p[k:]...)
}

// marker applies one matched marker.
func (s *State) marker(m [][]byte, mark func(Marker)) {
	ts, _ := strconv.ParseInt(string(m[2]), 10, 64)
	name := string(m[3])
	ln := s.Lines + 1
	if string(m[1]) == "start" {
		s.Sections++
		sec := Open{ID: s.Sections, Name: name, Start: ln, TS: ts, Collapsed: bytes.Contains(m[4], []byte("collapsed=true"))}
		if len(s.Open) > 0 {
			sec.Parent = s.Open[len(s.Open)-1].ID
		}
		s.Open = append(s.Open, sec)
		if mark != nil {
			mark(Marker{Start: true, Line: ln, TS: ts, Section: sec})
		}
		return
	}
	// An end closes the innermost open section of that name and any left
	// open inside it, as GitLab's parser does.
	for i := len(s.Open) - 1; i >= 0; i-- {
		if s.Open[i].Name != name {
			continue
		}
		closed := slices.Clone(s.Open[i:])
		s.Open = s.Open[:i]
		if mark != nil {
			mark(Marker{Line: ln, TS: ts, Section: closed[0], Closed: closed})
		}
		return
	}
}

// IsOpen reports whether section id is open in s.
func (s *State) IsOpen(id int) bool {
	for _, o := range s.Open {
		if o.ID == id {
			return true
		}
	}
	return false
}

package web

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/tracelog"
)

// A log source is a job's log as pieces (the live chunks in the database,
// or blocks of the archived file), each with the scan state after it
// (tracelog.State: lines so far, sections open). A page's window of lines
// reads only the pieces holding them, however long the log.

type logSource struct {
	marks []store.TraceMark
	read  func(from, to int64) ([]byte, error)
	close func() error
}

// Close releases the archived file, if any.
func (src *logSource) Close() error {
	if src.close == nil {
		return nil
	}
	return src.close()
}

// final is the scan state at the log's end.
func (src *logSource) final() tracelog.State {
	if len(src.marks) == 0 {
		return tracelog.State{}
	}
	return src.marks[len(src.marks)-1].End
}

// before is the state before piece k.
func (src *logSource) before(k int) tracelog.State {
	if k == 0 {
		return tracelog.State{}
	}
	return src.marks[k-1].End
}

// total is the number of lines, a partial last one included.
func (src *logSource) total() int {
	st := src.final()
	return st.Total()
}

// window indexes lines [from, to] (to <= total) reading only the pieces
// holding them (and, for a section whose header is among them but whose
// end is not, the piece holding its end). It returns the index and the
// bytes it indexes.
func (src *logSource) window(from, to int) (*logIndex, []byte, error) {
	// The piece holding the newline before line from, and the one holding
	// the newline that ends line to (or the last).
	k := sort.Search(len(src.marks), func(i int) bool { return src.marks[i].End.Lines >= from-1 })
	if from <= 1 {
		k = 0
	}
	k = min(k, max(len(src.marks)-1, 0))
	e := sort.Search(len(src.marks), func(i int) bool { return src.marks[i].End.Lines >= to })
	e = min(e, len(src.marks)-1)
	if len(src.marks) == 0 {
		return resumeIndex(tracelog.State{}, 0), nil, nil
	}
	start := src.marks[k].Pos
	data, err := src.read(start, src.marks[e].End.Off)
	if err != nil {
		return nil, nil, err
	}
	ix := resumeIndex(src.before(k), int(start))
	off := ix.skip(data, from)
	// Cut after line to's newline: the window ends there.
	end := off
	for n := from; n <= to && end < len(data); n++ {
		i := indexNL(data[end:])
		if i < 0 {
			end = len(data)
			break
		}
		end += i + 1
	}
	data = data[off:end]
	ix.scan(data, int(start)+off)
	if err := src.closeSections(ix, e); err != nil {
		return nil, nil, err
	}
	return ix, data, nil
}

// closeSections finds the ends of the sections that start in the window
// but end after it (for their headers' durations): for each, the first
// piece from e on after which it is no longer open, scanned from the
// state before it.
func (src *logSource) closeSections(ix *logIndex, e int) error {
	pieces := map[int][]int{} // piece -> section IDs
	var order []int
	for _, sec := range ix.sections {
		if sec.End != 0 || sec.Start <= ix.first || !ix.st.IsOpen(sec.ID) {
			continue
		}
		j := e + sort.Search(len(src.marks)-e, func(k int) bool { return !src.marks[e+k].End.IsOpen(sec.ID) })
		if _, ok := pieces[j]; !ok {
			order = append(order, j)
		}
		pieces[j] = append(pieces[j], sec.ID)
	}
	closed := func(m tracelog.Marker) {
		for _, c := range m.Closed {
			for k := range ix.sections {
				if s := &ix.sections[k]; s.ID == c.ID && s.End == 0 && s.Start > ix.first {
					s.close(m.Line, m.TS)
				}
			}
		}
	}
	for _, j := range order {
		// Past the last piece: the section ends, if at all, on the
		// unfinished last line, decided as the log stands.
		st := src.final().Clone()
		var data []byte
		if j < len(src.marks) {
			st = src.before(j).Clone()
			var err error
			if data, err = src.read(src.marks[j].Pos, src.marks[j].End.Off); err != nil {
				return err
			}
		}
		st.Feed(data, closed)
		st.Flush(closed)
	}
	return nil
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// logSource returns a job's log as pieces: the live chunks while it has
// them, else its archived trace, indexed once (blobIndex).
func (s *Server) logSource(ctx context.Context, j *ci.Job) (*logSource, error) {
	marks, err := s.st.TraceIndex(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	if len(marks) > 0 || !j.Status.Complete() {
		return &logSource{marks: marks, read: func(from, to int64) ([]byte, error) {
			return s.st.ReadTraceRange(ctx, j.ID, from, to)
		}}, nil
	}
	f, key, err := s.openTrace(ctx, j)
	if err != nil || f == nil {
		return &logSource{}, err
	}
	marks, err = s.blobIndex.get(key, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	src := readerSource(marks, f)
	src.close = f.Close
	return src, nil
}

// readerSource reads an archived log's pieces from f.
func readerSource(marks []store.TraceMark, f io.ReaderAt) *logSource {
	return &logSource{marks: marks, read: func(from, to int64) ([]byte, error) {
		b := make([]byte, max(to-from, 0))
		n, err := f.ReadAt(b, from)
		if err == io.EOF {
			err = nil
		}
		return b[:n], err
	}}
}

// blockSize is the piece of an archived log the index marks.
const blockSize = 1 << 20

// blobIndexes keeps the index of recently read archived logs (their blobs
// never change), at most maxBlobIndexes of them: the first read of a log
// scans it once, later reads of any window read only its blocks.
type blobIndexes struct {
	mu    sync.Mutex
	m     map[string][]store.TraceMark
	order []string
}

const maxBlobIndexes = 256

func (b *blobIndexes) get(key string, f io.ReaderAt) ([]store.TraceMark, error) {
	b.mu.Lock()
	marks, ok := b.m[key]
	b.mu.Unlock()
	if ok {
		return marks, nil
	}
	marks, err := indexReader(f, blockSize)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string][]store.TraceMark{}
	}
	if _, ok := b.m[key]; !ok {
		b.m[key] = marks
		b.order = append(b.order, key)
		if len(b.order) > maxBlobIndexes {
			delete(b.m, b.order[0])
			b.order = b.order[1:]
		}
	}
	return marks, nil
}

// indexReader scans a log once, marking a piece every block bytes.
func indexReader(f io.ReaderAt, block int) ([]store.TraceMark, error) {
	var marks []store.TraceMark
	var st tracelog.State
	buf := make([]byte, block)
	for {
		n, err := f.ReadAt(buf, st.Off)
		if n > 0 {
			pos := st.Off
			st.Feed(buf[:n], nil)
			marks = append(marks, store.TraceMark{Pos: pos, End: st.Clone()})
		}
		if err == io.EOF || n == 0 {
			return marks, nil
		}
		if err != nil {
			return nil, fmt.Errorf("index archived log: %w", err)
		}
	}
}

package web

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/postgres"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/sqlstore"
	"github.com/gantryci/gantry/internal/testkit"
	"github.com/gantryci/gantry/internal/tracelog"
)

// genLog writes a log as a runner might: plain and coloured lines, \r
// progress, timestamps, nested sections (some collapsed, some ended out of
// order or never), a secret, and sometimes an unfinished last line.
func genLog(r *rand.Rand, lines int) []byte {
	var b bytes.Buffer
	var open []string
	ts := 1700000000
	for i := 0; i < lines; i++ {
		if r.IntN(4) == 0 {
			b.WriteString("2024-05-01T10:00:00.123456Z 01O ")
		}
		switch r.IntN(9) {
		case 0:
			name := fmt.Sprintf("s%d", r.IntN(5))
			opt := ""
			if r.IntN(3) == 0 {
				opt = "[collapsed=true]"
			}
			fmt.Fprintf(&b, "section_start:%d:%s%s\r\x1b[0K\x1b[36;1mStep %s\x1b[0m", ts, name, opt, name)
			open = append(open, name)
		case 1:
			if len(open) > 0 {
				k := len(open) - 1
				if r.IntN(4) == 0 {
					k = r.IntN(len(open))
				}
				fmt.Fprintf(&b, "section_end:%d:%s\r\x1b[0K", ts+r.IntN(4000), open[k])
				open = open[:k]
			} else {
				b.WriteString("section_end:1:nothing\r\x1b[0K")
			}
		case 2:
			b.WriteString("progress 10%\rprogress 50%\rprogress 100%")
		case 3:
			b.WriteString("\x1b[31mred\x1b[0m and \x1b[38;2;1;2;3mtrue\x1b[0m colour")
		case 4:
			b.WriteString("token hunter2-secret here")
		case 5:
			// A marker and text on one line.
			fmt.Fprintf(&b, "x section_start:%d:inline\r\x1b[0Ky section_end:%d:inline\r\x1b[0K", ts, ts+1)
		case 6:
		default:
			fmt.Fprintf(&b, "line %d %s", i, strings.Repeat("w", r.IntN(40)))
		}
		ts += r.IntN(30)
		if i < lines-1 || r.IntN(2) == 0 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// chunks cuts data at random points, small ones often, so markers and
// lines are split across chunks.
func chunks(r *rand.Rand, data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := 1 + r.IntN(3)
		if r.IntN(3) > 0 {
			n = 1 + r.IntN(400)
		}
		n = min(n, len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// memSource is a log source over pieces in memory, indexed as the store
// indexes chunks.
func memSource(pieces [][]byte) *logSource {
	var marks []store.TraceMark
	var st tracelog.State
	var all []byte
	for _, p := range pieces {
		pos := st.Off
		st.Feed(p, nil)
		marks = append(marks, store.TraceMark{Pos: pos, End: st.Clone()})
		all = append(all, p...)
	}
	return readerSource(marks, bytes.NewReader(all))
}

// checkWindows compares every window of src (all tails, random ranges)
// with the whole-log render of data, and the streamed search with the
// whole-log search.
func checkWindows(t *testing.T, r *rand.Rand, src *logSource, data []byte) {
	t.Helper()
	secrets := [][]byte{[]byte("hunter2-secret")}
	whole := indexLog(data)
	whole.secrets = secrets
	total := whole.lines()
	if src.total() != total {
		t.Fatalf("total %d, want %d", src.total(), total)
	}
	var ranges [][2]int
	for from := 1; from <= total; from++ {
		ranges = append(ranges, [2]int{from, total})
	}
	for range 40 {
		a := 1 + r.IntN(max(total, 1))
		ranges = append(ranges, [2]int{a, a + r.IntN(max(total-a+1, 1))})
	}
	for _, w := range ranges {
		from, to := w[0], min(w[1], total)
		if from > to {
			continue
		}
		ix, win, err := src.window(from, to)
		if err != nil {
			t.Fatal(err)
		}
		ix.secrets = secrets
		got, want := mustJSON(t, ix.render(win, from, to)), mustJSON(t, whole.render(data, from, to))
		if got != want {
			t.Fatalf("lines %d-%d of %q:\n got %s\nwant %s", from, to, data, got, want)
		}
	}
	for _, q := range []string{"progress", "RED", "step s1", "hunter2", "[masked]", "line 1"} {
		got, err := searchSource(src, q, 7, secrets, int64(1+r.IntN(300)))
		if err != nil {
			t.Fatal(err)
		}
		want := searchLog(maskSecrets(data, secrets), q, 7)
		if mustJSON(t, got) != mustJSON(t, want) {
			t.Fatalf("search %q: got %v, want %v", q, got, want)
		}
	}
}

// A window of lines read from pieces of a log (with the scan state after
// each) draws what the whole-log render draws: same numbers, sections,
// durations, partial line; the streamed search finds the same matches.
func TestLogWindowMatchesWholeLog(t *testing.T) {
	t.Parallel()
	for seed := range 60 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		data := genLog(r, 1+r.IntN(60))
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			checkWindows(t, r, memSource(chunks(r, data)), data)
			marks, err := indexReader(bytes.NewReader(data), 1+r.IntN(200))
			if err != nil {
				t.Fatal(err)
			}
			checkWindows(t, r, readerSource(marks, bytes.NewReader(data)), data)
		})
	}
}

// The same over the store's chunks and their index, on both databases,
// for a log appended in random chunks and for one whose chunks predate
// the index (indexed on first read).
func TestLogWindowFromStore(t *testing.T) {
	testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) {
		ctx := context.Background()
		st, raw := openRaw(t, db)
		e := &testkit.Env{T: t, Ctx: ctx, DB: db, Store: st}
		p := e.Project(&ci.Project{Path: "p"})
		s := &Server{st: st}
		for seed := range 6 {
			r := rand.New(rand.NewPCG(uint64(seed), 11))
			j := &ci.Job{Name: "build", Status: ci.StatusRunning}
			e.Pipeline(p, nil, j)
			data := genLog(r, 20+r.IntN(80))
			var off int64
			for _, c := range chunks(r, data) {
				size, err := st.AppendTrace(ctx, j.ID, off, c, 0)
				if err != nil {
					t.Fatal(err)
				}
				off = size
			}
			if seed%2 == 1 {
				// As if appended before the index existed, in part.
				if _, err := raw.ExecContext(ctx, rebind(db, `DELETE FROM trace_index WHERE job_id = ? AND pos > ?`), j.ID, off/3); err != nil {
					t.Fatal(err)
				}
			}
			src, err := s.logSource(ctx, j)
			if err != nil {
				t.Fatal(err)
			}
			checkWindows(t, r, src, data)
			// A live stream opened at line next reads from that line on
			// and sends what the whole-log render draws.
			whole := indexLog(data)
			for _, next := range []int{2, 1 + r.IntN(whole.lines()), whole.lines()} {
				tail, err := s.openTail(ctx, j, next)
				if err != nil {
					t.Fatal(err)
				}
				rest, err := st.ReadTraceFrom(ctx, j.ID, int64(tail.off))
				if err != nil {
					t.Fatal(err)
				}
				lines, total := tail.advance(rest)
				if got, want := mustJSON(t, lines), mustJSON(t, whole.render(data, next, whole.lines())); got != want || total != whole.lines() {
					t.Fatalf("stream from %d: %d lines\n got %s\nwant %s", next, total, got, want)
				}
			}
		}
	})
}

// openRaw opens a fresh store and a plain connection to its database.
func openRaw(t *testing.T, db testkit.DB) (*sqlstore.DB, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	var (
		st  *sqlstore.DB
		raw *sql.DB
		err error
	)
	if db == testkit.Postgres {
		url := db.URL(t)
		if st, err = postgres.Open(ctx, url); err == nil {
			raw, err = sql.Open("pgx", url)
		}
	} else {
		path := filepath.Join(t.TempDir(), "gantry.db")
		if st, err = sqlite.Open(ctx, path); err == nil {
			raw, err = sql.Open("sqlite", "file:"+path)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(); st.Close() })
	return st, raw
}

func rebind(db testkit.DB, q string) string {
	if db != testkit.Postgres {
		return q
	}
	for n := 1; strings.Contains(q, "?"); n++ {
		q = strings.Replace(q, "?", fmt.Sprintf("$%d", n), 1)
	}
	return q
}

package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestIndexLogSections(t *testing.T) {
	t.Parallel()
	log := "one\n" +
		"section_start:100:outer[collapsed=true]\r\x1b[0KOuter\n" +
		"in outer\n" +
		"section_start:101:inner\r\x1b[0KInner\n" +
		"in inner\n" +
		"section_end:165:inner\r\x1b[0K\n" +
		"section_end:3700:outer\r\x1b[0K\n" +
		"after\n" +
		"partial"
	ix := indexLog([]byte(log))
	if ix.lines() != 9 || ix.complete != 8 {
		t.Fatalf("lines %d complete %d, want 9 and 8", ix.lines(), ix.complete)
	}
	lines := ix.render([]byte(log), 1, 9)
	tests := []struct {
		n       int
		text    string
		sec     string
		head    string
		dur     string
		folded  bool
		partial bool
	}{
		{n: 1, text: "one"},
		{n: 2, text: "Outer", head: "outer", dur: "1:00:00", folded: true},
		{n: 3, text: "in outer", sec: "[1]"},
		{n: 4, text: "Inner", sec: "[1]", head: "inner", dur: "01:04"},
		{n: 5, text: "in inner", sec: "[1 2]"},
		{n: 6, text: "", sec: "[1]"},
		{n: 7, text: ""},
		{n: 8, text: "after"},
		{n: 9, text: "partial", partial: true},
	}
	for _, tt := range tests {
		l := lines[tt.n-1]
		if l.N != tt.n || l.HTML != tt.text || fmtInts(l.Sec) != tt.sec || l.Partial != tt.partial {
			t.Errorf("line %d = %+v, want text %q sec %s partial %v", tt.n, l, tt.text, tt.sec, tt.partial)
		}
		if tt.head == "" {
			if l.Head != nil {
				t.Errorf("line %d: unexpected head %+v", tt.n, l.Head)
			}
			continue
		}
		if l.Head == nil || l.Head.Name != tt.head || l.Head.Duration != tt.dur || l.Head.Collapsed != tt.folded {
			t.Errorf("line %d head = %+v, want %s %s collapsed=%v", tt.n, l.Head, tt.head, tt.dur, tt.folded)
		}
	}
}

func fmtInts(v []int) string {
	if len(v) == 0 {
		return ""
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = string(rune('0' + x))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestRenderANSIAndTimestamps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, html, ts string
	}{
		{"\x1b[31;1mred\x1b[0m plain", `<span class="term-fg31 term-fg1">red</span> plain`, ""},
		{"\x1b[38;5;208morange", `<span class="term-fgx208">orange</span>`, ""},
		{"a <b> & c", "a &lt;b&gt; &amp; c", ""},
		{"progress 10%\rprogress 100%", "progress 100%", ""},
		{"2026-01-02T03:04:05.123456Z 00O hello", "hello", "2026-01-02T03:04:05.123456Z"},
	}
	for _, tt := range tests {
		data := []byte(tt.in + "\n")
		l := indexLog(data).render(data, 1, 1)[0]
		if l.HTML != tt.html || l.TS != tt.ts {
			t.Errorf("%q: html %q ts %q, want %q %q", tt.in, l.HTML, l.TS, tt.html, tt.ts)
		}
	}
}

func TestSearchLog(t *testing.T) {
	t.Parallel()
	log := []byte("alpha\n\x1b[32mBeta\x1b[0m one\nsection_start:1:x\r\x1b[0Kbeta two\ngamma\nbeta three")
	tests := []struct {
		q     string
		limit int
		want  []match
	}{
		{"beta", 10, []match{{2, "Beta one"}, {3, "beta two"}, {5, "beta three"}}},
		{"beta", 2, []match{{2, "Beta one"}, {3, "beta two"}}},
		// Escape sequences and markers are not searchable text.
		{"32m", 10, nil},
		{"section_start", 10, nil},
		{"", 10, nil},
	}
	for _, tt := range tests {
		got := searchLog(log, tt.q, tt.limit)
		if len(got) != len(tt.want) {
			t.Errorf("%q: %v, want %v", tt.q, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q: %v, want %v", tt.q, got, tt.want)
			}
		}
	}
}

func TestSignInLimiter(t *testing.T) {
	t.Parallel()
	l := newSignInLimiter()
	now := testNow
	for i := 0; i < loginFreeTry; i++ {
		if w := l.wait("root", "1.2.3.4", now); w != 0 {
			t.Fatalf("attempt %d waits %v", i, w)
		}
		l.fail("root", "1.2.3.4", now)
	}
	if w := l.wait("root", "5.6.7.8", now); w <= 0 {
		t.Fatal("no wait after 5 failures for a login")
	}
	if w := l.wait("other", "5.6.7.8", now); w != 0 {
		t.Fatalf("another login waits %v", w)
	}
	if w := l.wait("root", "5.6.7.8", now.Add(failWindow+1)); w != 0 {
		t.Fatalf("wait %v after the window", w)
	}
	l.reset("root")
	if w := l.wait("root", "5.6.7.8", now); w != 0 {
		t.Fatalf("wait %v after a success", w)
	}
}

var testNow = mustTime("2026-01-02T03:04:05Z")

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// A stream reading the log piece by piece (logTail, by offset) sends the
// lines the whole-log renderer draws, the partial last line again as it
// grows, and masks secrets.
func TestLogTailMatchesWholeLog(t *testing.T) {
	t.Parallel()
	log := "one\nsection_start:100:outer[collapsed=true]\r\x1b[0KOuter\nin outer hunter2-secret\n" +
		"section_end:165:outer\r\x1b[0K\n\x1b[31mred\x1b[0m\nlast partial"
	secrets := [][]byte{[]byte("hunter2-secret")}
	whole := indexLog([]byte(log))
	whole.secrets = secrets
	want := whole.render([]byte(log), 1, whole.lines())
	for _, cuts := range [][]int{{len(log)}, {3, 4, 10, 60, 61, 90, len(log) - 3, len(log)}, {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, len(log)}, {70, 90, len(log)}} {
		got := map[int]logLine{}
		tail := &logTail{done: &logIndex{secrets: secrets}, next: 1}
		if cuts[0] > 60 {
			// A page that already shows lines 1-2 opens its stream at 3.
			tail.next = 3
			for _, l := range want[:2] {
				got[l.N] = l
			}
		}
		for _, c := range cuts {
			lines, total := tail.advance([]byte(log[tail.off:c]))
			for _, l := range lines {
				got[l.N] = l
			}
			if total < len(got) {
				t.Fatalf("cuts %v at %d: total %d < %d lines sent", cuts, c, total, len(got))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("cuts %v: %d lines, want %d", cuts, len(got), len(want))
		}
		for _, w := range want {
			g := got[w.N]
			if g.HTML != w.HTML || g.Partial != w.Partial || fmt.Sprint(g.Sec) != fmt.Sprint(w.Sec) || (g.Head == nil) != (w.Head == nil) {
				t.Errorf("cuts %v line %d: %+v, want %+v", cuts, w.N, g, w)
			}
		}
	}
	if strings.Contains(fmt.Sprint(want), "hunter2") {
		t.Fatal("secret not masked")
	}
}

// indexWindow draws the lines of a window as the whole-log index does.
func TestIndexWindowMatchesWholeLog(t *testing.T) {
	t.Parallel()
	log := "one\nsection_start:100:outer[collapsed=true]\r\x1b[0KOuter\nin outer\nsection_start:101:inner\r\x1b[0KInner\n" +
		"in inner\nsection_end:165:inner\r\x1b[0K\n\nsection_end:3700:outer\r\x1b[0K\nafter\npartial"
	whole := indexLog([]byte(log))
	for from := 1; from <= whole.lines()+1; from++ {
		want := whole.render([]byte(log), from, whole.lines())
		ix := indexWindow([]byte(log), from)
		if ix.lines() != whole.lines() || ix.complete != whole.complete {
			t.Fatalf("from %d: lines %d complete %d, want %d %d", from, ix.lines(), ix.complete, whole.lines(), whole.complete)
		}
		got := ix.render([]byte(log), from, ix.lines())
		if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Errorf("from %d:\n got %s\nwant %s", from, g, w)
		}
	}
	if n := lineCount([]byte(log)); n != whole.lines() {
		t.Errorf("lineCount %d, want %d", n, whole.lines())
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

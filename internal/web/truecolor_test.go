package web

import (
	"strings"
	"testing"

	terminal "github.com/buildkite/terminal-to-html/v3"
)

func TestTruecolorTo256(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"\x1b[38;2;255;0;0mred", "\x1b[38;5;196mred"},
		{"\x1b[48;2;0;0;255mblue", "\x1b[48;5;21mblue"},
		{"\x1b[1;38;2;0;255;0;48;2;255;255;255mx", "\x1b[1;38;5;46;48;5;231mx"},
		{"\x1b[38;2;128;128;128mgrey", "\x1b[38;5;244mgrey"},
		{"\x1b[38;2;18;18;18mdark", "\x1b[38;5;233mdark"},
		{"\x1b[38:2::255:135:0mitu", "\x1b[38;5;208mitu"},
		{"\x1b[38;5;2;32mkeep", "\x1b[38;5;2;32mkeep"},
		{"\x1b[38;2;300;0;0mbad", "\x1b[38;2;300;0;0mbad"},
		{"\x1b[38;2;1mshort", "\x1b[38;2;1mshort"},
	}
	for _, tc := range tests {
		if got := string(truecolorTo256([]byte(tc.in))); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	// Rendered, the colour is a palette class, not dropped.
	ix := indexLog([]byte("\x1b[38;2;255;0;0mred\x1b[0m\n"))
	if h := ix.render([]byte("\x1b[38;2;255;0;0mred\x1b[0m\n"), 1, 1)[0].HTML; !strings.Contains(h, "term-fgx196") {
		t.Errorf("rendered %q, want class term-fgx196", h)
	}
	if h := terminal.Render([]byte("\x1b[38;2;255;0;0mred")); strings.Contains(h, "term-fg") {
		t.Logf("terminal-to-html now colours 24-bit itself (%q): the pre-pass may go", h)
	}
}

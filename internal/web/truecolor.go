package web

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// terminal-to-html (v3.17.3, the newest release) parses 24-bit colours
// (ESC[38;2;r;g;bm, ESC[48;2;r;g;bm) but draws the text uncoloured. An
// exact colour would need a style="" attribute on each span, which the
// UI's Content-Security-Policy (style-src 'self', no 'unsafe-inline')
// forbids. So a pre-pass rewrites each 24-bit colour to the nearest of the
// xterm 256-colour palette (38;5;n / 48;5;n), which the renderer draws with
// the term-fgx/term-bgx classes term.go styles: close to the colour, and no
// inline style.

// sgrRE is an SGR sequence (ESC [ params m).
var sgrRE = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// truecolorTo256 rewrites the 24-bit colours of a line's SGR sequences to
// 256-colour ones.
func truecolorTo256(line []byte) []byte {
	if !bytes.Contains(line, []byte("8;2;")) && !bytes.Contains(line, []byte("8:2:")) {
		return line
	}
	return sgrRE.ReplaceAllFunc(line, func(seq []byte) []byte {
		params := string(seq[2 : len(seq)-1])
		// The ITU form 38:2:[colourspace:]r:g:b is one parameter.
		ps := strings.Split(params, ";")
		out := make([]string, 0, len(ps))
		for i := 0; i < len(ps); i++ {
			p := ps[i]
			if c := strings.Split(p, ":"); len(c) >= 5 && (c[0] == "38" || c[0] == "48") && c[1] == "2" {
				rgb := c[len(c)-3:]
				if n, ok := nearest256(rgb); ok {
					out = append(out, c[0]+";5;"+strconv.Itoa(n))
					continue
				}
			}
			if (p == "38" || p == "48") && i+4 < len(ps) && ps[i+1] == "2" {
				if n, ok := nearest256(ps[i+2 : i+5]); ok {
					out = append(out, p+";5;"+strconv.Itoa(n))
					i += 4
					continue
				}
			}
			out = append(out, p)
		}
		return []byte("\x1b[" + strings.Join(out, ";") + "m")
	})
}

// cubeLevels are the xterm colour cube's channel values (indexes 16–231).
var cubeLevels = [6]int{0, 95, 135, 175, 215, 255}

// nearest256 is the xterm palette index (16–255) closest to r, g, b: the
// nearest cube colour or the nearest grey (232–255), whichever is closer.
func nearest256(rgb []string) (int, bool) {
	var c [3]int
	for i, s := range rgb {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 255 {
			return 0, false
		}
		c[i] = v
	}
	var idx [3]int
	var cube [3]int
	for i, v := range c {
		best := 0
		for k, l := range cubeLevels {
			if abs(l-v) < abs(cubeLevels[best]-v) {
				best = k
			}
		}
		idx[i], cube[i] = best, cubeLevels[best]
	}
	cubeIdx := 16 + 36*idx[0] + 6*idx[1] + idx[2]
	avg := (c[0] + c[1] + c[2]) / 3
	g := min(max((avg-8+5)/10, 0), 23)
	grey := 8 + 10*g
	if dist(c, [3]int{grey, grey, grey}) < dist(c, cube) {
		return 232 + g, true
	}
	return cubeIdx, true
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func dist(a, b [3]int) int {
	d := 0
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
	}
	return d
}

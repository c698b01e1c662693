package web

import (
	"fmt"
	"net/http"
	"strings"
)

// termCSS styles terminal-to-html's classes: the 16 SGR colours (GitLab's
// log palette), bold/italic/underline, and the 256-colour xterm palette,
// generated once instead of hand-writing 512 rules.
var termCSS = func() string {
	var b strings.Builder
	base := []string{"#000000", "#e6533f", "#3fa85b", "#d99530", "#4a90e2", "#c46fd8", "#36b1b1", "#d4d4d8"}
	bright := []string{"#737278", "#fc9483", "#6fdc8c", "#f5d35b", "#82b7ff", "#e3a4f0", "#6fe4e4", "#ffffff"}
	for i := range 8 {
		fmt.Fprintf(&b, ".term-fg%d{color:%s}.term-bg%d{background:%s}.term-fgi%d{color:%s}.term-bgi%d{background:%s}\n",
			30+i, base[i], 40+i, base[i], 90+i, bright[i], 100+i, bright[i])
	}
	b.WriteString(".term-fg1{font-weight:700}.term-fg2{opacity:.7}.term-fg3{font-style:italic}.term-fg4{text-decoration:underline}.term-fg9{text-decoration:line-through}\n")
	all := append(append([]string{}, base...), bright...)
	for i := range 256 {
		var c string
		switch {
		case i < 16:
			c = all[i]
		case i < 232:
			v := []int{0, 95, 135, 175, 215, 255}
			n := i - 16
			c = fmt.Sprintf("#%02x%02x%02x", v[n/36], v[n/6%6], v[n%6])
		default:
			g := 8 + (i-232)*10
			c = fmt.Sprintf("#%02x%02x%02x", g, g, g)
		}
		fmt.Fprintf(&b, ".term-fgx%d{color:%s}.term-bgx%d{background:%s}\n", i, c, i, c)
	}
	return b.String()
}()

// termStyles serves termCSS at /assets/term.css.
func termStyles(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write([]byte(termCSS))
}

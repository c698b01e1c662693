package gitserve

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// pkt is in prereceive_test.go.

// TestPushOptionReader feeds receive-pack bodies in every chunk size and
// checks that the body passes through unchanged and the options are read.
func TestPushOptionReader(t *testing.T) {
	t.Parallel()
	zero := "0000000000000000000000000000000000000000"
	cmd := zero + " 1111111111111111111111111111111111111111 refs/heads/main"
	cases := []struct {
		name, body string
		want       []string
	}{
		{"options", pkt(cmd+"\x00report-status push-options side-band-64k\n") + "0000" +
			pkt("ci.skip\n") + pkt("ci.variable=A=b c\n") + "0000" + "PACK\x00\x00\x00\x02", []string{"ci.skip", "ci.variable=A=b c"}},
		{"no capability", pkt(cmd+"\x00report-status\n") + "0000" + "PACK" + pkt("ci.skip\n"), nil},
		{"shallow first", pkt("shallow "+zero+"\n") + pkt(cmd+"\x00push-options\n") + "0000" + pkt("x") + "0000PACK", []string{"x"}},
		{"garbage", "zzzz" + pkt("ci.skip"), nil},
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 3, 7, 4096} {
			p := &pushOptionReader{r: io.NopCloser(&chunker{b: []byte(c.body), n: chunk})}
			got, err := io.ReadAll(p)
			if err != nil || !bytes.Equal(got, []byte(c.body)) {
				t.Errorf("%s/%d: body changed (%v)", c.name, chunk, err)
			}
			if !slices.Equal(p.options, c.want) {
				t.Errorf("%s/%d: options = %q, want %q", c.name, chunk, p.options, c.want)
			}
		}
	}
}

// chunker returns at most n bytes per Read.
type chunker struct {
	b []byte
	n int
}

func (c *chunker) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

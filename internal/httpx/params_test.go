package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
)

// TestMultipartBounded: a multipart body is read in memory within a part
// count (Rack's 128) and a total size; anything beyond is a client error,
// never a temporary file or an unbounded allocation.
func TestMultipartBounded(t *testing.T) {
	t.Parallel()
	body := func(parts int, size int) (string, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for i := range parts {
			w, _ := mw.CreateFormFile(fmt.Sprintf("f%d", i), "x.bin")
			_, _ = w.Write(bytes.Repeat([]byte("a"), size))
		}
		_ = mw.WriteField("name", "demo")
		_ = mw.Close()
		return b.String(), mw.FormDataContentType()
	}
	cases := []struct {
		name        string
		parts, size int
		raw         string // a body sent as multipart without a boundary
		code        ci.ErrorCode
	}{
		{name: "fields and files", parts: 3, size: 10},
		{name: "at the part limit", parts: MaxMultipartParts - 1, size: 1},
		{name: "over the part limit", parts: MaxMultipartParts, size: 1, code: ci.EBadRequest},
		{name: "over the size limit", parts: 2, size: MaxParamBody / 2, code: ci.ETooLarge},
		{name: "no boundary", raw: "name=demo", code: ci.EBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, ct := body(c.parts, c.size)
			if c.raw != "" {
				b, ct = c.raw, "multipart/form-data"
			}
			r := httptest.NewRequest("POST", "/api/v4/projects", strings.NewReader(b))
			r.Header.Set("Content-Type", ct)
			p, err := ParseParams(r)
			if c.code != "" {
				var e *ci.Error
				if !errors.As(err, &e) || e.Code != c.code {
					t.Fatalf("err = %v, want code %s", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Str("name") != "demo" || p.Str("f0") != strings.Repeat("a", c.size) {
				t.Errorf("params: name=%q f0=%d bytes", p.Str("name"), len(p.Str("f0")))
			}
		})
	}
}

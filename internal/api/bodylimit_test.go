package api_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/testkit"
)

// TestBodyReadAfterAuthentication: an anonymous or badly authenticated
// 10 MB chunked multipart POST is answered 401 before a byte of its body
// is read; an authenticated body over the cap is 413, chunked or not.
func TestBodyReadAfterAuthentication(t *testing.T) {
	testkit.ForEachDB(t, testBodyReadAfterAuthentication)
}

func testBodyReadAfterAuthentication(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	read := e.srv.CountBody()
	path := fmt.Sprintf("/api/v4/projects/%d/variables", e.proj.ID)
	send := func(token string, body io.Reader, ct string) (int, string) {
		hdr := map[string]string{"Content-Type": ct}
		if token != "" {
			hdr["PRIVATE-TOKEN"] = token
		}
		return e.srv.Send("POST", path, hdr, body)
	}
	for _, tc := range []struct{ name, token string }{{"anonymous", ""}, {"bad token", "glpat-nope"}} {
		read.Store(0)
		body, ct := testkit.MultipartStream(10 << 20)
		status, msg := send(tc.token, body, ct)
		if status != 401 || msg != `{"message":"401 Unauthorized"}` {
			t.Errorf("%s: %d %s, want 401", tc.name, status, msg)
		}
		if n := read.Load(); n != 0 {
			t.Errorf("%s: handler read %d body bytes before refusing", tc.name, n)
		}
	}
	tok := e.tokens["maint"]
	for _, tc := range []struct {
		name string
		body func() (io.Reader, string)
	}{
		{"multipart", func() (io.Reader, string) { return testkit.MultipartStream(9 << 20) }},
		{"json", func() (io.Reader, string) {
			return struct{ io.Reader }{strings.NewReader(`{"key":"A","value":"` + strings.Repeat("x", 9<<20) + `"}`)}, "application/json"
		}},
		{"form", func() (io.Reader, string) {
			return strings.NewReader("key=A&value=" + strings.Repeat("x", 9<<20)), "application/x-www-form-urlencoded"
		}},
	} {
		read.Store(0)
		body, ct := tc.body()
		status, msg := send(tok, body, ct)
		if status != 413 || msg != `{"message":"413 Request Entity Too Large"}` {
			t.Errorf("%s: %d %s, want 413", tc.name, status, msg)
		}
		if n := read.Load(); n > 8<<20+1 {
			t.Errorf("%s: handler read %d bytes, over the cap", tc.name, n)
		}
	}
	// Within the cap, a multipart body authenticated by its header works.
	body, ct := testkit.MultipartStream(1 << 10)
	if status, msg := send(tok, body, ct); status != 400 || !strings.Contains(msg, "value is missing") {
		t.Errorf("small multipart: %d %s", status, msg)
	}
}

package pipeline

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ciconfig"
)

// TestFetchRemote checks include:remote's limits against a loopback server:
// a slow answer is a timeout, a large one an HTTP error, a 500 a status.
func TestFetchRemote(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow.yml":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/big.yml":
			w.Write([]byte(strings.Repeat("x", maxRemoteInclude+1)))
		case "/fail.yml":
			w.WriteHeader(500)
		default:
			w.Write([]byte("a:\n  script: echo\n"))
		}
	}))
	defer hs.Close()
	defer close(release)
	s := &Service{cfg: Config{RemoteIncludeTimeout: 200 * time.Millisecond}}
	fetch := s.fetchRemote(context.Background())
	var se *ciconfig.RemoteStatusError
	if _, err := fetch(hs.URL + "/slow.yml"); !errors.Is(err, ciconfig.ErrRemoteTimeout) {
		t.Errorf("slow: %v, want a timeout", err)
	}
	if _, err := fetch(hs.URL + "/big.yml"); !errors.Is(err, ciconfig.ErrRemoteHTTP) {
		t.Errorf("big: %v, want an HTTP error", err)
	}
	if _, err := fetch(hs.URL + "/fail.yml"); !errors.As(err, &se) || se.Code != 500 {
		t.Errorf("fail: %v, want status 500", err)
	}
	if b, err := fetch(hs.URL + "/ok.yml"); err != nil || !strings.Contains(string(b), "script") {
		t.Errorf("ok: %q %v", b, err)
	}
}

func TestParsePushOptions(t *testing.T) {
	t.Parallel()
	po := ParsePushOptions([]string{"ci.skip", "ci.variable=A=1=2", "ci.variable=bad", "ci.input=n=3", "ci.input=l=[a, b]",
		"ci.input=s=hello", "merge_request.create"})
	if !po.Skip || len(po.Variables) != 1 || po.Variables[0].Key != "A" || po.Variables[0].Value != "1=2" {
		t.Errorf("skip/variables = %v %+v", po.Skip, po.Variables)
	}
	if po.Inputs["n"] != int64(3) || po.Inputs["s"] != "hello" || len(po.Inputs["l"].([]any)) != 2 {
		t.Errorf("inputs = %#v", po.Inputs)
	}
}

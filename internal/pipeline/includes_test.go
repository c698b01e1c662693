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
	s := &Service{cfg: Config{RemoteIncludeTimeout: 200 * time.Millisecond, AllowLocalRequests: true}}
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

// TestFetchRemoteBlocked: without AllowLocalRequests, include:remote
// refuses this host and local networks with UrlBlocker's sentences, also
// when a public-looking address redirects to a local one; the server's own
// external URL stays allowed.
func TestFetchRemoteBlocked(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a:\n  script: echo\n"))
	}))
	defer hs.Close()
	s := &Service{cfg: Config{RemoteIncludeTimeout: 2 * time.Second, ExternalURL: "http://gantry.invalid"}}
	fetch := s.fetchRemote(context.Background())
	cases := []struct{ url, reason string }{
		{hs.URL + "/a.yml", "Requests to localhost are not allowed"},
		{"http://[::]:1/a.yml", "Requests to localhost are not allowed"},
		{"http://10.1.2.3/a.yml", "Requests to the local network are not allowed"},
		{"http://192.168.0.1/a.yml", "Requests to the local network are not allowed"},
		{"http://[fd00::1]/a.yml", "Requests to the local network are not allowed"},
		{"http://169.254.169.254/a.yml", "Requests to the link local network are not allowed"},
		{"http://100.64.0.1/a.yml", "Requests to the shared address space are not allowed"},
		{"http://255.255.255.255/a.yml", "Requests to the limited broadcast address are not allowed"},
		{"http://no-such-host.invalid/a.yml", "Host cannot be resolved or invalid"},
	}
	for _, c := range cases {
		var be *ciconfig.RemoteBlockedError
		if _, err := fetch(c.url); !errors.As(err, &be) || be.Reason != c.reason {
			t.Errorf("%s: %v, want %q", c.url, err, c.reason)
		}
	}
	// The server's own URL is allowed (GitLab's allowed_internal_uris).
	own := &Service{cfg: Config{RemoteIncludeTimeout: 2 * time.Second, ExternalURL: hs.URL}}
	if b, err := own.fetchRemote(context.Background())(hs.URL + "/a.yml"); err != nil || !strings.Contains(string(b), "script") {
		t.Errorf("own URL: %q %v", b, err)
	}
	// The dialer refuses a blocked address reached any other way (here a
	// client whose checked name is bypassed: a direct dial).
	var be *ciconfig.RemoteBlockedError
	if _, err := guardedClient(http.DefaultClient).Get(hs.URL); !errors.As(err, &be) {
		t.Errorf("guarded dial: %v, want blocked", err)
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

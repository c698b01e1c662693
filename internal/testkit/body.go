package testkit

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// CountBody wraps the server's handler so that every request body counts
// the bytes its handler reads; the returned counter holds the total. The
// server's own draining after the handler is not counted.
func (s *Server) CountBody() *atomic.Int64 {
	n := &atomic.Int64{}
	h := s.Handler()
	s.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = countingBody{r.Body, n}
		}
		h.ServeHTTP(w, r)
	}))
	return n
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// MultipartStream is a multipart body of about size bytes (one field and
// one file part) of unknown length: a request made with it is sent
// chunked. It returns the body and its Content-Type.
func MultipartStream(size int) (io.Reader, string) {
	const boundary = "gantry-test-boundary"
	head := fmt.Sprintf("--%s\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nVAR\r\n"+
		"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n", boundary, boundary)
	tail := fmt.Sprintf("\r\n--%s--\r\n", boundary)
	body := io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, int64(size)), strings.NewReader(tail))
	return struct{ io.Reader }{body}, "multipart/form-data; boundary=" + boundary
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// Send makes one request to the server with the given headers and body (a
// body of unknown length goes chunked) and returns the status and the
// answer; status 0 and the error's text when the server closed the
// connection before answering (as it may while a refused body is still
// being sent).
func (s *Server) Send(method, path string, hdr map[string]string, body io.Reader) (int, string) {
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		return 0, err.Error()
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

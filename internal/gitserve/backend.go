package gitserve

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gantryci/gantry/internal/gitrepo"
)

// backend runs git http-backend for one smart HTTP request against the
// repository t.RepoDir. Request and response bodies are streamed, never
// held whole in memory.
func (h *handler) backend(w http.ResponseWriter, r *http.Request, t Target, suffix, remoteUser string, configs ...gitConfig) {
	dir := filepath.Clean(t.RepoDir)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		h.log.ErrorContext(r.Context(), "gitserve: repository missing on disk", "dir", dir, "err", err)
		plain(w, http.StatusNotFound, msgNotFound)
		return
	}
	// http-backend finds the repository as GIT_PROJECT_ROOT + PATH_INFO;
	// splitting RepoDir this way lets repositories live anywhere.
	root, name := filepath.Split(dir)
	env := []string{
		"GIT_PROJECT_ROOT=" + root,
		"PATH_INFO=/" + name + "/" + suffix,
		// Access was decided by Resolve, so every repository is exported.
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + remoteUser,
		"GIT_HTTP_MAX_REQUEST_BUFFER=" + strconv.FormatInt(h.cfg.MaxRequestBuffer, 10),
		"LC_ALL=C",
	}
	// receive-pack advertises push options (git push -o) on every
	// request, the ref advertisement included.
	env = append(env, configEnv(append([]gitConfig{advertisePushOptions}, configs...))...)
	// Protocol v2 is negotiated through this header; http-backend only
	// sees it as GIT_PROTOCOL, which a CGI host must set itself.
	if gp := r.Header.Get("Git-Protocol"); validGitProtocol(gp) {
		env = append(env, "GIT_PROTOCOL="+gp)
	}

	// The CGI host turns every request header into an HTTP_* variable;
	// credentials must not end up in git's environment.
	req := r.Clone(r.Context())
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	req.Header.Del("Proxy-Authorization")
	req.Header.Del("Git-Protocol")
	// net/http/cgi refuses chunked request bodies, yet git sends pushes
	// larger than http.postBuffer chunked. http-backend reads stdin to EOF
	// when CONTENT_LENGTH is unset, so pass the (already de-chunked) body
	// with an unknown length. A Content-Encoding: gzip header reaches
	// http-backend as HTTP_CONTENT_ENCODING and it inflates the body
	// itself.
	if len(req.TransferEncoding) > 0 {
		req.TransferEncoding = nil
		req.ContentLength = -1
	}

	cg := &cgi.Handler{
		Path:   h.gitPath,
		Args:   []string{"http-backend"},
		Dir:    dir,
		Env:    env,
		Logger: slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
		Stderr: &stderrLogger{log: h.log, dir: dir},
	}
	cg.ServeHTTP(&flushWriter{w: w, rc: http.NewResponseController(w)}, req)
}

// validGitProtocol accepts the Git-Protocol header values git sends
// ("version=2", colon-separated key[=value] pairs) and nothing that could
// smuggle odd bytes into the child's environment.
func validGitProtocol(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '=', c == ':', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// receivePack runs a push and reports the refs it changed. It diffs
// snapshots of the refs taken before and after; pushes to one repository
// are serialised so that the diff only contains this push's updates.
func (h *handler) receivePack(w http.ResponseWriter, r *http.Request, t Target, remoteUser string) {
	dir := filepath.Clean(t.RepoDir)
	var hookConfig []gitConfig
	if h.cfg.CheckPush != nil {
		r2, cfg, cleanup, err := h.checkPush(w, r, t)
		if err != nil {
			return
		}
		defer cleanup()
		r, hookConfig = r2, cfg
	}
	unlock, err := h.locks.lock(r.Context(), dir)
	if err != nil {
		// The client went away while another push held the lock.
		return
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()

	// Ref reading and OnPush must finish even if the client disconnects
	// once its pack is in: the refs have moved either way.
	ctx := context.WithoutCancel(r.Context())
	repo := gitrepo.Open(dir)
	before, err := snapshot(ctx, repo)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "HEAD")); statErr != nil {
			h.log.ErrorContext(ctx, "gitserve: repository missing on disk", "dir", dir, "err", statErr)
			plain(w, http.StatusNotFound, msgNotFound)
			return
		}
		h.log.ErrorContext(ctx, "gitserve: read refs before push", "dir", dir, "err", err)
		plain(w, http.StatusInternalServerError, msgInternalError)
		return
	}
	// Push options (git push -o) are only visible in the request body.
	var opts *pushOptionReader
	if r.Header.Get("Content-Encoding") == "" {
		opts = &pushOptionReader{r: r.Body}
		r.Body = opts
	}
	// With RecordPush, git's answer (its report of each ref) is held
	// until the push is recorded: the client must not hear "ok" for a ref
	// change a crash could still lose.
	out := w
	var held *heldResponse
	if h.cfg.RecordPush != nil {
		held = &heldResponse{header: http.Header{}}
		out = held
	}
	h.backend(out, r, t, suffixReceivePack, remoteUser, hookConfig...)
	if opts != nil {
		t.PushOptions = opts.options
	}
	var updates []RefUpdate
	after, err := snapshot(ctx, repo)
	if err != nil {
		h.log.ErrorContext(ctx, "gitserve: read refs after push", "dir", dir, "err", err)
	} else {
		updates = diffRefs(before, after)
	}
	if held != nil {
		switch {
		case err != nil:
			plain(w, http.StatusInternalServerError, msgInternalError)
			return
		case len(updates) > 0:
			if err := h.cfg.RecordPush(ctx, t, updates); err != nil {
				h.log.ErrorContext(ctx, "gitserve: record push", "dir", dir, "err", err)
				plain(w, http.StatusInternalServerError, msgInternalError)
				return
			}
		}
		held.sendTo(w)
	}
	unlock()
	locked = false
	if len(updates) == 0 || h.cfg.OnPush == nil {
		return
	}
	// Let the client have the whole report before we spend time on
	// pipelines; the body only ends when the handler returns.
	if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.log.DebugContext(ctx, "gitserve: flush after push", "err", err)
	}
	h.cfg.OnPush(ctx, t, updates)
}

// heldResponse keeps a response (git's answer to a push: a few lines per
// ref) in memory until sendTo writes it out.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(p)
}

// sendTo writes the held response to w and flushes it.
func (h *heldResponse) sendTo(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	w.WriteHeader(h.status)
	_, _ = w.Write(h.body.Bytes())
	_ = http.NewResponseController(w).Flush()
}

// snapshot returns the refs a push may change: all except the internal
// namespaces, which receive-pack refuses (receive.hideRefs) but the server
// itself may update concurrently (refs/pipelines/<id>).
func snapshot(ctx context.Context, repo *gitrepo.Repo) (map[string]string, error) {
	refs, err := repo.Refs(ctx)
	if err != nil {
		return nil, err
	}
	for ref := range refs {
		if gitrepo.IsInternalRef(ref) {
			delete(refs, ref)
		}
	}
	return refs, nil
}

// diffRefs lists refs whose value differs, sorted by ref name.
func diffRefs(before, after map[string]string) []RefUpdate {
	var updates []RefUpdate
	for ref, old := range before {
		if cur := after[ref]; cur != old {
			if cur == "" {
				cur = zeroLike(old)
			}
			updates = append(updates, RefUpdate{Ref: ref, OldSHA: old, NewSHA: cur})
		}
	}
	for ref, cur := range after {
		if _, ok := before[ref]; !ok {
			updates = append(updates, RefUpdate{Ref: ref, OldSHA: zeroLike(cur), NewSHA: cur})
		}
	}
	sort.Slice(updates, func(i, j int) bool { return updates[i].Ref < updates[j].Ref })
	return updates
}

// zeroLike returns the zero object name as long as sha, so SHA-256
// repositories get 64 zeros.
func zeroLike(sha string) string {
	if len(sha) == len(gitrepo.ZeroSHA) || sha == "" {
		return gitrepo.ZeroSHA
	}
	return strings.Repeat("0", len(sha))
}

// repoLocks serialises pushes per repository directory. Entries are
// reference counted so the map does not grow with every repository ever
// pushed to.
type repoLocks struct {
	mu sync.Mutex
	m  map[string]*repoLock
}

type repoLock struct {
	ch   chan struct{} // holds one token while locked
	refs int
}

// lock takes the lock for dir, giving up when ctx ends (a channel, not a
// sync.Mutex, so a waiting push whose client left does not queue forever).
func (l *repoLocks) lock(ctx context.Context, dir string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*repoLock)
	}
	rl := l.m[dir]
	if rl == nil {
		rl = &repoLock{ch: make(chan struct{}, 1)}
		l.m[dir] = rl
	}
	rl.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		rl.refs--
		if rl.refs == 0 {
			delete(l.m, dir)
		}
		l.mu.Unlock()
	}
	select {
	case rl.ch <- struct{}{}:
		return func() { <-rl.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// flushWriter flushes after every write so that progress messages and
// pack data reach the client as http-backend produces them rather than
// sitting in the server's buffer.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f *flushWriter) Header() http.Header { return f.w.Header() }

func (f *flushWriter) WriteHeader(status int) { f.w.WriteHeader(status) }

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	if ferr := f.rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
		return n, ferr
	}
	return n, nil
}

// stderrLogger forwards git's stderr to the logger, one record per write.
type stderrLogger struct {
	log *slog.Logger
	dir string
}

func (s *stderrLogger) Write(p []byte) (int, error) {
	if msg := strings.TrimSpace(string(p)); msg != "" {
		s.log.Warn("gitserve: git http-backend", "dir", s.dir, "stderr", msg)
	}
	return len(p), nil
}

// gitConfig is one configuration setting given to the git processes of a
// request through the environment (GIT_CONFIG_COUNT/KEY_n/VALUE_n), which
// holds a single list: every setting of a request goes through configEnv.
type gitConfig struct{ key, value string }

func configEnv(cs []gitConfig) []string {
	if len(cs) == 0 {
		return nil
	}
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(cs))}
	for i, c := range cs {
		n := strconv.Itoa(i)
		env = append(env, "GIT_CONFIG_KEY_"+n+"="+c.key, "GIT_CONFIG_VALUE_"+n+"="+c.value)
	}
	return env
}

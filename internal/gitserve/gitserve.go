// Package gitserve serves hosted repositories over git's smart HTTP
// protocol by running `git http-backend` as a CGI program.
//
// The handler knows nothing about users or projects: Config.Resolve maps a
// URL to a repository directory and decides access, Config.CheckPush
// judges a push's ref updates before git applies them, and Config.OnPush
// learns which refs a push changed.
package gitserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
)

// Access is the kind of access a request needs.
type Access int

const (
	// Read is needed to fetch or clone (upload-pack).
	Read Access = iota + 1
	// Write is needed to push (receive-pack).
	Write
)

// String returns "read" or "write".
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Errors Resolve returns (wrapped) to deny a request.
var (
	// ErrUnauthorized answers 401 with a Basic challenge, which is what
	// makes git send the credentials it has (from the URL or a helper).
	ErrUnauthorized = errors.New("gitserve: unauthorized")
	// ErrForbidden answers 403: the caller is known but lacks access.
	ErrForbidden = errors.New("gitserve: forbidden")
	// ErrNotFound answers 404.
	ErrNotFound = errors.New("gitserve: not found")
)

// Deny returns an error wrapping kind (ErrUnauthorized, ErrForbidden or
// ErrNotFound) whose message is sent as the response body instead of the
// default GitLab text.
func Deny(kind error, message string) error {
	return &denial{kind: kind, msg: message}
}

type denial struct {
	kind error
	msg  string
}

func (d *denial) Error() string { return d.msg }
func (d *denial) Unwrap() error { return d.kind }

// Target is the repository a request was resolved to.
type Target struct {
	// ProjectID is the caller's project id, passed back to OnPush.
	ProjectID int64
	// RepoDir is the bare repository directory on disk.
	RepoDir string
	// UserID is who pushes or fetches, 0 when anonymous.
	UserID int64
	// Extra carries anything else Resolve wants OnPush to see.
	Extra any
	// PushOptions are the push's `git push -o` options, set for OnPush.
	PushOptions []string
}

// RefUpdate is one ref a push changed. OldSHA is all zeros for a created
// ref, NewSHA is all zeros for a deleted one.
type RefUpdate struct {
	Ref, OldSHA, NewSHA string
}

// Config configures the handler. Resolve is required.
type Config struct {
	// Resolve authorises a request for the repository full path
	// ("ns/proj" or "group/sub/proj", without .git) with the needed
	// access. user and pass come from HTTP Basic auth; ok is false when
	// the request carried none. Errors wrapping ErrUnauthorized,
	// ErrForbidden or ErrNotFound become 401 (with a Basic challenge), 403
	// and 404; any other error becomes 500.
	Resolve func(ctx context.Context, fullPath string, access Access, user, pass string, ok bool) (Target, error)
	// RecordPush, when set, is called once git has applied a push that
	// changed at least one ref, with the changed refs sorted by name, and
	// before the client gets git's answer: the answer is held back until
	// RecordPush returns, so a push is only acknowledged once what it
	// recorded is durable. An error answers 500 instead. It runs under the
	// repository's push lock, so calls for one repository come in push
	// order; it should be quick.
	RecordPush func(ctx context.Context, t Target, updates []RefUpdate) error
	// OnPush, when set, is called after a receive-pack that changed at
	// least one ref, with the changed refs sorted by name. It runs in the
	// request goroutine after the response body has been written and
	// flushed and the repository's push lock released, with a context
	// that is not cancelled when the client goes away.
	OnPush func(ctx context.Context, t Target, updates []RefUpdate)
	// CheckPush, when set, decides a push's ref updates before git applies
	// any of them (GitLab's pre-receive checks): it gets the updates in
	// the order the client sent them and returns one PushCheck for each
	// (missing ones allow). An error answers 500 and nothing is applied.
	CheckPush func(ctx context.Context, t Target, updates []RefUpdate) ([]PushCheck, error)
	// Logger receives errors and git's stderr; nil means slog.Default().
	Logger *slog.Logger
	// MaxRequestBuffer bounds, in bytes, how much of an upload-pack
	// request git http-backend buffers (GIT_HTTP_MAX_REQUEST_BUFFER).
	// Fetches into clones with much history send many "have" lines; 0
	// means 100 MiB rather than git's 10 MB default.
	MaxRequestBuffer int64
}

// handler implements http.Handler; see New.
type handler struct {
	cfg     Config
	log     *slog.Logger
	gitPath string
	gitErr  error
	locks   repoLocks
}

// New returns the smart HTTP handler. Mount it for every path IsGitPath
// accepts; it answers 404 for anything else.
func New(cfg Config) http.Handler {
	h := &handler{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.cfg.MaxRequestBuffer <= 0 {
		h.cfg.MaxRequestBuffer = 100 << 20
	}
	// Look git up once; a missing binary is reported per request rather
	// than making New fail, so wiring stays simple.
	h.gitPath, h.gitErr = exec.LookPath("git")
	if h.gitErr == nil {
		// The CGI child runs in the repository directory, so a relative
		// PATH entry must not change which git runs.
		h.gitPath, h.gitErr = filepath.Abs(h.gitPath)
	}
	return h
}

// Smart HTTP endpoints below a repository path.
const (
	suffixInfoRefs    = "info/refs"
	suffixUploadPack  = "git-upload-pack"
	suffixReceivePack = "git-receive-pack"
)

// Service names as they appear in ?service= and in the POST paths.
const (
	serviceUploadPack  = "git-upload-pack"
	serviceReceivePack = "git-receive-pack"
)

// IsGitPath reports whether path is one of the smart HTTP endpoints of a
// repository: /<ns>[/<sub>...]/<proj>[.git]/info/refs, .../git-upload-pack
// or .../git-receive-pack. Paths without .git are accepted as GitLab does,
// so a router should dispatch its own prefixes (such as /api/) first.
func IsGitPath(path string) bool {
	_, _, ok := parsePath(path)
	return ok
}

// parsePath splits a request path into the repository full path (without
// .git) and the endpoint suffix.
func parsePath(p string) (fullPath, suffix string, ok bool) {
	for _, s := range []string{suffixInfoRefs, suffixUploadPack, suffixReceivePack} {
		if rest, found := strings.CutSuffix(p, "/"+s); found {
			fullPath, suffix = rest, s
			break
		}
	}
	if suffix == "" || !strings.HasPrefix(fullPath, "/") {
		return "", "", false
	}
	fullPath = strings.TrimSuffix(fullPath[1:], ".git")
	segs := strings.Split(fullPath, "/")
	if len(segs) < 2 {
		return "", "", false
	}
	for _, seg := range segs {
		if !validSegment(seg) {
			return "", "", false
		}
	}
	return fullPath, suffix, true
}

// validSegment accepts GitLab-style namespace and project path segments:
// ASCII letters, digits, '_', '-', '.', not starting with '-' and never "."
// or "..". Anything else cannot name a project, so it is not a git path.
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// Response bodies, as GitLab words them.
const (
	msgUnauthorized = "HTTP Basic: Access denied. If a password was provided for Git authentication, " +
		"the password was incorrect or you're required to use a token instead of a password. " +
		"If a token was provided, it was either incorrect, expired, or improperly scoped."
	msgNotFound      = "The project you were looking for could not be found or you don't have permission to view it."
	msgForbidPush    = "You are not allowed to push code to this project."
	msgForbidFetch   = "You are not allowed to download code from this project."
	msgUnsupported   = "Unsupported service. Only smart HTTP is supported."
	msgInternalError = "Internal server error"
)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fullPath, suffix, ok := parsePath(r.URL.Path)
	if !ok {
		plain(w, http.StatusNotFound, msgNotFound)
		return
	}
	var access Access
	service := suffix
	switch suffix {
	case suffixInfoRefs:
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			plain(w, http.StatusMethodNotAllowed, "Method not allowed")
			return
		}
		// Without ?service= a client is asking for the dumb protocol,
		// which (like GitLab) we do not offer.
		service = r.URL.Query().Get("service")
	default:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			plain(w, http.StatusMethodNotAllowed, "Method not allowed")
			return
		}
	}
	switch service {
	case serviceUploadPack:
		access = Read
	case serviceReceivePack:
		// Authorising the advertisement for write too means git push
		// gets its 401 challenge on the first request, before it builds
		// a pack.
		access = Write
	default:
		plain(w, http.StatusForbidden, msgUnsupported)
		return
	}

	user, pass, hasAuth := r.BasicAuth()
	t, err := h.cfg.Resolve(r.Context(), fullPath, access, user, pass, hasAuth)
	if err != nil {
		h.deny(w, r, fullPath, access, err)
		return
	}
	if t.RepoDir == "" {
		h.log.Error("gitserve: Resolve returned no repository directory", "path", fullPath)
		plain(w, http.StatusInternalServerError, msgInternalError)
		return
	}
	if h.gitErr != nil {
		h.log.Error("gitserve: git binary not found", "err", h.gitErr)
		plain(w, http.StatusInternalServerError, msgInternalError)
		return
	}
	remoteUser := remoteUserFor(t, user, hasAuth)
	if suffix == suffixReceivePack {
		h.receivePack(w, r, t, remoteUser)
		return
	}
	h.backend(w, r, t, suffix, remoteUser)
}

// remoteUserFor names the caller for http-backend, which uses REMOTE_USER
// for the reflog identity of pushed ref updates.
func remoteUserFor(t Target, user string, ok bool) string {
	switch {
	case t.UserID != 0:
		return fmt.Sprintf("user-%d", t.UserID)
	case ok && user != "":
		return user
	default:
		return "anonymous"
	}
}

func (h *handler) deny(w http.ResponseWriter, r *http.Request, fullPath string, access Access, err error) {
	var d *denial
	custom := errors.As(err, &d)
	body := func(def string) string {
		if custom && d.msg != "" {
			return d.msg
		}
		return def
	}
	switch {
	case errors.Is(err, ErrUnauthorized):
		// git (libcurl) only sends credentials after this challenge,
		// even when the URL contains them.
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
		plain(w, http.StatusUnauthorized, body(msgUnauthorized))
	case errors.Is(err, ErrForbidden):
		def := msgForbidFetch
		if access == Write {
			def = msgForbidPush
		}
		plain(w, http.StatusForbidden, body(def))
	case errors.Is(err, ErrNotFound):
		plain(w, http.StatusNotFound, body(msgNotFound))
	default:
		h.log.ErrorContext(r.Context(), "gitserve: resolve failed", "path", fullPath, "access", access.String(), "err", err)
		plain(w, http.StatusInternalServerError, msgInternalError)
	}
}

// plain writes a text/plain response, newline-terminated like GitLab's.
func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	_, _ = io.WriteString(w, msg)
}

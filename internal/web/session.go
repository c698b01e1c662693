package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const (
	sessionCookie = "_gantry_session"
	// signInCookie carries the CSRF token of the signed-out sign-in form
	// (double submit), so a foreign site cannot sign a browser in.
	signInCookie  = "_gantry_signin"
	sessionLife   = 14 * 24 * time.Hour
	csrfFormField = "authenticity_token"
)

// loadSession resolves the session cookie to a user; a missing, unknown
// or expired session is simply signed out.
func (s *Server) loadSession(pg *page) error {
	if c, err := pg.r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) < 200 {
		sess, err := s.st.WebSessionByDigest(pg.ctx(), auth.Digest(c.Value), s.now())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if sess != nil {
			u, err := s.st.UserByID(pg.ctx(), sess.UserID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if u != nil && u.State == "active" {
				pg.user, pg.sess, pg.csrf = u, sess, sess.CSRFToken
				return nil
			}
		}
	}
	if c, err := pg.r.Cookie(signInCookie); err == nil && len(c.Value) > 20 && len(c.Value) < 200 {
		pg.csrf = c.Value
	}
	return nil
}

// checkCSRF compares the form's (or X-CSRF-Token header's) token with the
// session's, or the sign-in cookie's when signed out.
func (s *Server) checkCSRF(pg *page) bool {
	got := pg.r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = pg.r.PostFormValue(csrfFormField)
	}
	return pg.csrf != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(pg.csrf)) == 1
}

// signInView is the sign-in page's data.
type signInView struct {
	Login    string
	Error    string
	ReturnTo string
}

// signInForm is GET /users/sign_in.
func (s *Server) signInForm(pg *page) error {
	if pg.user != nil {
		return pg.redirect("/")
	}
	s.ensureSignInToken(pg)
	s.render(pg, http.StatusOK, "sign_in", "Sign in", signInView{ReturnTo: safeReturn(pg.r.URL.Query().Get("return_to"))})
	return nil
}

// ensureSignInToken gives a signed-out browser its sign-in CSRF cookie.
func (s *Server) ensureSignInToken(pg *page) {
	if pg.csrf != "" {
		return
	}
	pg.csrf = auth.NewToken("", 24)
	http.SetCookie(pg.w, &http.Cookie{Name: signInCookie, Value: pg.csrf, Path: "/users/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secure()})
}

// signIn is POST /users/sign_in: login (username or email) and password.
// Failures are slowed down per login and per address (signInLimiter).
func (s *Server) signIn(pg *page) error {
	login := strings.TrimSpace(pg.r.PostFormValue("user[login]"))
	pw := pg.r.PostFormValue("user[password]")
	ret := safeReturn(pg.r.PostFormValue("return_to"))
	key := strings.ToLower(login)
	ip := clientIP(pg.r)
	if wait := s.limit.wait(key, ip, s.now()); wait > 0 {
		s.render(pg, http.StatusTooManyRequests, "sign_in", "Sign in", signInView{Login: login, ReturnTo: ret,
			Error: "Too many failed sign-in attempts. Try again in " + wait.Round(time.Second).String() + "."})
		return nil
	}
	u, err := s.userByLogin(pg, login)
	if err != nil {
		return err
	}
	hash := ""
	if u != nil {
		if hash, err = s.st.UserPasswordHash(pg.ctx(), u.ID); err != nil {
			return err
		}
	}
	ok := auth.CheckPassword(hash, pw) && u != nil && u.State == "active"
	if !ok {
		s.limit.fail(key, ip, s.now())
		// A constant pause on every failure on top of bcrypt's cost.
		time.Sleep(500 * time.Millisecond)
		s.render(pg, http.StatusUnauthorized, "sign_in", "Sign in", signInView{Login: login, ReturnTo: ret,
			Error: "Invalid login or password."})
		return nil
	}
	s.limit.reset(key)
	token := auth.NewToken("", 32)
	sess := &store.WebSession{Digest: auth.Digest(token), UserID: u.ID, CSRFToken: auth.NewToken("", 24),
		CreatedAt: s.now(), ExpiresAt: s.now().Add(sessionLife)}
	if err := s.st.CreateWebSession(pg.ctx(), sess); err != nil {
		return err
	}
	http.SetCookie(pg.w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secure(), Expires: sess.ExpiresAt})
	http.SetCookie(pg.w, &http.Cookie{Name: signInCookie, Path: "/users/", MaxAge: -1})
	if ret == "" {
		ret = "/"
	}
	return pg.redirect(ret)
}

func (s *Server) userByLogin(pg *page, login string) (*ci.User, error) {
	if login == "" || len(login) > 255 {
		return nil, nil
	}
	u, err := s.st.UserByUsername(pg.ctx(), login)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return u, err
}

// signOut is POST /users/sign_out.
func (s *Server) signOut(pg *page) error {
	if c, err := pg.r.Cookie(sessionCookie); err == nil {
		if err := s.st.DeleteWebSession(pg.ctx(), auth.Digest(c.Value), s.now()); err != nil {
			return err
		}
	}
	http.SetCookie(pg.w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true})
	return pg.redirect("/users/sign_in")
}

func (s *Server) secure() bool { return strings.HasPrefix(s.cfg.ExternalURL, "https://") }

// safeReturn keeps only local paths as post-sign-in destinations.
func safeReturn(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || len(p) > 2000 {
		return ""
	}
	return p
}

func clientIP(r *http.Request) string {
	h := r.RemoteAddr
	if i := strings.LastIndexByte(h, ':'); i > 0 {
		h = h[:i]
	}
	return h
}

// signInLimiter slows down password guessing: after 5 failures for a login
// or 20 from an address within 15 minutes, further attempts wait, the wait
// doubling with each failure (capped at 15 minutes).
type signInLimiter struct {
	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

const (
	failWindow   = 15 * time.Minute
	loginFreeTry = 5
	ipFreeTry    = 20
)

func newSignInLimiter() *signInLimiter { return &signInLimiter{m: map[string]*failures{}} }

func (l *signInLimiter) wait(login, ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.waitLocked("u:"+login, loginFreeTry, now), l.waitLocked("ip:"+ip, ipFreeTry, now))
}

func (l *signInLimiter) waitLocked(key string, free int, now time.Time) time.Duration {
	f := l.m[key]
	if f == nil || now.Sub(f.last) > failWindow {
		return 0
	}
	if f.n < free {
		return 0
	}
	d := time.Second << min(f.n-free, 10)
	d = min(d, failWindow)
	if until := f.last.Add(d); until.After(now) {
		return until.Sub(now)
	}
	return 0
}

func (l *signInLimiter) fail(login, ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) > 100000 {
		clear(l.m)
	}
	for _, k := range []string{"u:" + login, "ip:" + ip} {
		f := l.m[k]
		if f == nil || now.Sub(f.last) > failWindow {
			f = &failures{}
			l.m[k] = f
		}
		f.n++
		f.last = now
	}
}

func (l *signInLimiter) reset(login string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, "u:"+login)
}

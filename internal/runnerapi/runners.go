package runnerapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/runnerproto"
	"github.com/gantryci/gantry/internal/store"
)

// runnerTokenLen is the random part of a glrt- token.
const runnerTokenLen = 24

// parseInfo decodes params' info; a malformed one is ignored rather than
// refused, because it is informational and the runner cannot fix it.
func parseInfo(p *httpx.Params) *runnerproto.Info {
	var i runnerproto.Info
	if raw, ok := p.Raw("info"); ok && json.Unmarshal(raw, &i) != nil {
		return &runnerproto.Info{}
	}
	return &i
}

// runnerToken is the runner token of a request: the body's token (all
// runners, and the only place 14.10 puts it) or the RUNNER-TOKEN header.
func runnerToken(r *http.Request, p *httpx.Params) string {
	if t := p.Str("token"); t != "" {
		return t
	}
	return r.Header.Get("RUNNER-TOKEN")
}

// registrationDetails is GitLab's RunnerRegistrationDetails entity.
// TokenExpiresAt is always null: Gantry's runner tokens do not expire, so
// runners never schedule a reset.
type registrationDetails struct {
	ID             int64      `json:"id"`
	Token          string     `json:"token"`
	TokenExpiresAt *time.Time `json:"token_expires_at"`
}

// register is legacy registration with the instance registration token.
func (a *API) register(w http.ResponseWriter, r *http.Request) error {
	p, err := httpx.ParseParams(r)
	if err != nil {
		return err
	}
	given := p.Str("token")
	if a.cfg.RegistrationToken == "" || subtle.ConstantTimeCompare([]byte(given), []byte(a.cfg.RegistrationToken)) != 1 {
		return ci.ErrForbidden
	}
	rs, err := ci.ParseRunnerSettings(blankAsAbsent{p, "access_level"}, true)
	if err != nil {
		return err
	}
	// Ci::Runner's defaults for a registering runner.
	rn := &ci.Runner{RunnerType: ci.RunnerInstance, RunUntagged: true, Locked: true,
		AccessLevel: ci.RunnerNotProtected, CreatedAt: a.now()}
	rs.Apply(rn)
	if errs := rn.Validate(); len(errs) > 0 {
		return ci.BadRequest(errs[0].Attr + " " + errs[0].Message)
	}
	token := auth.NewToken(auth.PrefixRunner, runnerTokenLen)
	rn.TokenPrefix = token[:len(auth.PrefixRunner)+8]
	if err := a.store.CreateRunner(r.Context(), rn, auth.Digest(token)); err != nil {
		return fmt.Errorf("register runner: %w", err)
	}
	// Registration carries an info object too; remember it as the
	// manager without a system_id, like a 14.10 runner polling later.
	if _, err := a.recordContact(r.Context(), r, rn, p.Str("system_id"), parseInfo(p), true); err != nil {
		a.log.Warn("record runner manager", "runner", rn.ID, "err", err)
	}
	httpx.WriteJSON(w, http.StatusCreated, registrationDetails{ID: rn.ID, Token: token})
	return nil
}

// blankAsAbsent hides a blank key: legacy registration has always taken
// a blank access_level for the default.
type blankAsAbsent struct {
	*httpx.Params
	key string
}

func (b blankAsAbsent) Has(k string) bool { return b.Params.Has(k) && (k != b.key || b.Str(k) != "") }

// verify checks a runner token and records the manager. It must answer
// JSON with a non-zero id, or `register` with a glrt- token panics.
func (a *API) verify(w http.ResponseWriter, r *http.Request) error {
	p, rn, err := a.authRunner(r)
	if err != nil {
		return err
	}
	if _, err := a.recordContact(r.Context(), r, rn, p.Str("system_id"), parseInfo(p), true); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, registrationDetails{ID: rn.ID, Token: runnerToken(r, p)})
	return nil
}

// unregister deletes the runner of a (legacy) token.
func (a *API) unregister(w http.ResponseWriter, r *http.Request) error {
	_, rn, err := a.authRunner(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteRunner(r.Context(), rn.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete runner: %w", err)
	}
	a.forgetContacts(rn.ID, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// unregisterManager removes one runner manager of a glrt- runner.
func (a *API) unregisterManager(w http.ResponseWriter, r *http.Request) error {
	p, rn, err := a.authRunner(r)
	if err != nil {
		return err
	}
	if !p.Has("system_id") {
		return ci.Invalid("system_id is missing")
	}
	sys := p.Str("system_id")
	err = a.store.DeleteRunnerManager(r.Context(), rn.ID, sys)
	a.forgetContacts(rn.ID, &sys)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ci.ErrNotFoundGeneric
	case err != nil:
		return fmt.Errorf("delete runner manager: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resetToken swaps the runner's token for a new one.
func (a *API) resetToken(w http.ResponseWriter, r *http.Request) error {
	_, rn, err := a.authRunner(r)
	if err != nil {
		return err
	}
	token := auth.NewToken(auth.PrefixRunner, runnerTokenLen)
	if err := a.store.SetRunnerToken(r.Context(), rn.ID, auth.Digest(token), token[:len(auth.PrefixRunner)+8]); err != nil {
		return fmt.Errorf("reset runner token: %w", err)
	}
	httpx.WriteJSON(w, http.StatusCreated, struct {
		Token          string     `json:"token"`
		TokenExpiresAt *time.Time `json:"token_expires_at"`
	}{Token: token})
	return nil
}

// authRunner reads the request's parameters and the runner its token names.
func (a *API) authRunner(r *http.Request) (*httpx.Params, *ci.Runner, error) {
	p, err := httpx.ParseParams(r)
	if err != nil {
		return nil, nil, err
	}
	rn, err := a.runnerByToken(r.Context(), runnerToken(r, p))
	if err != nil {
		return nil, nil, err
	}
	return p, rn, nil
}

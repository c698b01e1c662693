package runnerapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/store"
)

// runnerTokenLen is the random part of a glrt- token.
const runnerTokenLen = 24

// infoReq is the `info` object runners send (§2.1). Only what Gantry keeps
// is decoded; every field is optional because old runners and binaries
// built without release ldflags leave some empty.
type infoReq struct {
	Name         string         `json:"name"`
	Version      string         `json:"version"`
	Revision     string         `json:"revision"`
	Platform     string         `json:"platform"`
	Architecture string         `json:"architecture"`
	Executor     string         `json:"executor"`
	Shell        string         `json:"shell"`
	Features     map[string]any `json:"features"`
}

// features keeps the features reported as true.
func (i *infoReq) features() map[string]bool {
	if i == nil || len(i.Features) == 0 {
		return nil
	}
	out := make(map[string]bool, len(i.Features))
	for k, v := range i.Features {
		if b, ok := v.(bool); ok && b {
			out[k] = true
		}
	}
	return out
}

// parseInfo decodes params' info; a malformed one is ignored rather than
// refused, because it is informational and the runner cannot fix it.
func parseInfo(p *httpx.Params) *infoReq {
	raw, ok := p.Raw("info")
	if !ok {
		return &infoReq{}
	}
	var i infoReq
	if err := json.Unmarshal(raw, &i); err != nil {
		return &infoReq{}
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
// runners never schedule a reset (§1.5).
type registrationDetails struct {
	ID             int64      `json:"id"`
	Token          string     `json:"token"`
	TokenExpiresAt *time.Time `json:"token_expires_at"`
}

// register is legacy registration with the instance registration token.
func (a *API) register(w http.ResponseWriter, r *http.Request) {
	p, err := httpx.ParseParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	given := p.Str("token")
	if a.cfg.RegistrationToken == "" || subtle.ConstantTimeCompare([]byte(given), []byte(a.cfg.RegistrationToken)) != 1 {
		a.fail(w, r, ci.ErrForbidden)
		return
	}
	rn, err := runnerFromParams(p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	token := auth.NewToken(auth.PrefixRunner, runnerTokenLen)
	rn.RunnerType = ci.RunnerInstance
	rn.TokenPrefix = token[:len(auth.PrefixRunner)+8]
	rn.CreatedAt = a.now()
	if err := a.store.CreateRunner(r.Context(), rn, auth.Digest(token)); err != nil {
		a.fail(w, r, fmt.Errorf("register runner: %w", err))
		return
	}
	// Registration carries an info object too; remember it as the
	// manager without a system_id, like a 14.10 runner polling later.
	if _, err := a.recordContact(r.Context(), r, rn, p.Str("system_id"), parseInfo(p), true); err != nil {
		a.log.Warn("record runner manager", "runner", rn.ID, "err", err)
	}
	httpx.WriteJSON(w, http.StatusCreated, registrationDetails{ID: rn.ID, Token: token})
}

// runnerFromParams reads the settings legacy registration accepts.
func runnerFromParams(p *httpx.Params) (*ci.Runner, error) {
	rn := &ci.Runner{Description: p.Str("description"), MaintenanceNote: p.Str("maintenance_note")}
	for _, v := range p.List("tag_list") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(rn.Tags, t) {
				rn.Tags = append(rn.Tags, t)
			}
		}
	}
	slices.Sort(rn.Tags)
	var err error
	if rn.RunUntagged, err = p.Bool("run_untagged", true); err != nil {
		return nil, err
	}
	if rn.Locked, err = p.Bool("locked", true); err != nil {
		return nil, err
	}
	if rn.Paused, err = p.Bool("paused", false); err != nil {
		return nil, err
	}
	// `active` is the pre-16.0 spelling of !paused.
	if p.Has("active") {
		active, err := p.Bool("active", true)
		if err != nil {
			return nil, err
		}
		rn.Paused = !active
	}
	maxTimeout, err := p.Int("maximum_timeout", 0)
	if err != nil {
		return nil, err
	}
	if maxTimeout != 0 && maxTimeout < 600 {
		return nil, ci.BadRequest("maximum_timeout needs to be at least 10 minutes")
	}
	rn.MaximumTimeout = int(maxTimeout)
	rn.AccessLevel = p.Str("access_level")
	switch rn.AccessLevel {
	case "":
		rn.AccessLevel = "not_protected"
	case "not_protected", "ref_protected":
	default:
		return nil, ci.Invalid("access_level does not have a valid value")
	}
	if !rn.RunUntagged && len(rn.Tags) == 0 {
		return nil, ci.BadRequest("tags_list can not be empty when runner is not allowed to pick untagged jobs")
	}
	return rn, nil
}

// verify checks a runner token and records the manager (§1.3). It must
// answer JSON with a non-zero id, or `register` with a glrt- token panics.
func (a *API) verify(w http.ResponseWriter, r *http.Request) {
	p, err := httpx.ParseParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	token := runnerToken(r, p)
	rn, err := a.runnerByToken(r.Context(), token)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.recordContact(r.Context(), r, rn, p.Str("system_id"), parseInfo(p), true); err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, registrationDetails{ID: rn.ID, Token: token})
}

// unregister deletes the runner of a (legacy) token.
func (a *API) unregister(w http.ResponseWriter, r *http.Request) {
	_, rn, ok := a.authRunner(w, r)
	if !ok {
		return
	}
	if err := a.store.DeleteRunner(r.Context(), rn.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, fmt.Errorf("delete runner: %w", err))
		return
	}
	a.forgetContacts(rn.ID, nil)
	w.WriteHeader(http.StatusNoContent)
}

// unregisterManager removes one runner manager of a glrt- runner.
func (a *API) unregisterManager(w http.ResponseWriter, r *http.Request) {
	p, rn, ok := a.authRunner(w, r)
	if !ok {
		return
	}
	if !p.Has("system_id") {
		a.fail(w, r, ci.Invalid("system_id is missing"))
		return
	}
	sys := p.Str("system_id")
	err := a.store.DeleteRunnerManager(r.Context(), rn.ID, sys)
	a.forgetContacts(rn.ID, &sys)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.fail(w, r, ci.ErrNotFoundGeneric)
	case err != nil:
		a.fail(w, r, fmt.Errorf("delete runner manager: %w", err))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// resetToken swaps the runner's token for a new one (§1.5).
func (a *API) resetToken(w http.ResponseWriter, r *http.Request) {
	_, rn, ok := a.authRunner(w, r)
	if !ok {
		return
	}
	token := auth.NewToken(auth.PrefixRunner, runnerTokenLen)
	if err := a.store.SetRunnerToken(r.Context(), rn.ID, auth.Digest(token), token[:len(auth.PrefixRunner)+8]); err != nil {
		a.fail(w, r, fmt.Errorf("reset runner token: %w", err))
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, struct {
		Token          string     `json:"token"`
		TokenExpiresAt *time.Time `json:"token_expires_at"`
	}{Token: token})
}

// ---- contact recording ----

type contactKey struct {
	runnerID int64
	systemID string
}

type contact struct {
	managerID int64
	at        time.Time
	// sig summarises what was written; a change (upgrade, new features)
	// is written at once instead of waiting for the throttle.
	sig string
}

func contactSig(info *infoReq, ip string) string {
	b, _ := json.Marshal(struct {
		I *infoReq
		F map[string]bool
		P string
	}{info, info.features(), ip})
	return string(b)
}

// recordContact upserts the runner manager (runner, system_id) with the
// reported info and touches the runner. Writes happen at most once per
// contactEvery per manager unless force is set or the info changed; the
// manager id is cached because every claim needs it.
func (a *API) recordContact(ctx context.Context, r *http.Request, rn *ci.Runner, systemID string, info *infoReq, force bool) (int64, error) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	key := contactKey{rn.ID, systemID}
	sig := contactSig(info, ip)
	now := a.now()
	a.contactMu.Lock()
	c := a.contacts[key]
	if c != nil && !force && c.sig == sig && now.Sub(c.at) < contactEvery {
		id := c.managerID
		a.contactMu.Unlock()
		return id, nil
	}
	// Claim the slot before writing so concurrent polls of the same
	// manager do not all write; they use the previous id meanwhile.
	if c != nil {
		c.at, c.sig = now, sig
	}
	a.contactMu.Unlock()

	m := &ci.RunnerManager{
		RunnerID: rn.ID, SystemID: systemID, Version: info.Version, Revision: info.Revision,
		Platform: info.Platform, Architecture: info.Architecture, IPAddress: ip, Features: info.features(),
		ContactedAt: &now,
	}
	if err := a.store.UpsertRunnerManager(ctx, m); err != nil {
		return 0, fmt.Errorf("upsert runner manager: %w", err)
	}
	if err := a.store.TouchRunner(ctx, rn.ID, now); err != nil {
		return 0, fmt.Errorf("touch runner: %w", err)
	}
	a.contactMu.Lock()
	a.contacts[key] = &contact{managerID: m.ID, at: now, sig: sig}
	a.contactMu.Unlock()
	return m.ID, nil
}

// forgetContacts drops cached manager ids of a deleted runner or manager,
// so a later poll recreates the row instead of using a dead id.
func (a *API) forgetContacts(runnerID int64, systemID *string) {
	a.contactMu.Lock()
	defer a.contactMu.Unlock()
	for k := range a.contacts {
		if k.runnerID == runnerID && (systemID == nil || k.systemID == *systemID) {
			delete(a.contacts, k)
		}
	}
}

// authRunner reads the request's parameters and the runner its token names,
// answering the failure itself when either is wrong.
func (a *API) authRunner(w http.ResponseWriter, r *http.Request) (*httpx.Params, *ci.Runner, bool) {
	p, err := httpx.ParseParams(r)
	if err != nil {
		a.fail(w, r, err)
		return nil, nil, false
	}
	rn, err := a.runnerByToken(r.Context(), runnerToken(r, p))
	if err != nil {
		a.fail(w, r, err)
		return nil, nil, false
	}
	return p, rn, true
}

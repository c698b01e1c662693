package runnerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/runnerproto"
)

// Contact recording: every runner request says who is calling (the runner
// manager, by system_id) and what it runs, throttled per manager.

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

func contactSig(info *runnerproto.Info, ip string) string {
	b, _ := json.Marshal(struct {
		I *runnerproto.Info
		P string
	}{info, ip})
	return string(b)
}

// recordContact upserts the runner manager (runner, system_id) with the
// reported info and touches the runner. Writes happen at most once per
// contactEvery per manager unless force is set or the info changed; the
// manager id is cached because every claim needs it.
func (a *API) recordContact(ctx context.Context, r *http.Request, rn *ci.Runner, systemID string, info *runnerproto.Info, force bool) (int64, error) {
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
		Platform: info.Platform, Architecture: info.Architecture, IPAddress: ip, Features: info.Features.Enabled(),
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

package web

import (
	"errors"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
)

// Every page asks the one access policy (internal/access), as the API
// does: the viewer is access.SessionCaller of the signed-in user, nil when
// signed out. A refusal is a *ci.Error: 404 Project Not Found when the
// project is invisible to the viewer, 403 otherwise.

// caller is the page's viewer as the policy knows it.
func (pg *page) caller() *access.Caller { return access.SessionCaller(pg.user) }

// allowed reports whether err is a "yes"; errors other than refusals are
// returned.
func allowed(err error) (bool, error) {
	var e *ci.Error
	if err == nil {
		return true, nil
	}
	if errors.As(err, &e) && (e.Code == ci.EForbidden || e.Code == ci.ENotFound) {
		return false, nil
	}
	return false, err
}

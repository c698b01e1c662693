package web

import (
	"context"
	"errors"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Action names what a page is about to show or do. The names follow the
// abilities of GitLab's app/policies/project_policy.rb.
type Action string

// Actions the pages ask about.
const (
	ReadProject    Action = "read_project"
	ReadPipeline   Action = "read_pipeline"
	ReadBuild      Action = "read_build"
	ReadBuildTrace Action = "read_build_trace"
	UpdateBuild    Action = "update_build"
	PlayBuild      Action = "play_build"
	UpdatePipeline Action = "update_pipeline"
)

// Policy is the one access question every page asks: may this signed-in
// user (nil when signed out) do a to project p? It answers nil, or a
// *ci.Error: 404 Project Not Found when the project is invisible to the
// user, 403 otherwise. Pages never compare roles themselves.
type Policy interface {
	Can(ctx context.Context, u *ci.User, p *ci.Project, a Action) error
}

// storePolicy is the project policy read from the store: membership,
// administrators and visibility, as the REST API applies them.
type storePolicy struct{ st store.Store }

func (sp storePolicy) role(ctx context.Context, u *ci.User, p *ci.Project) (ci.AccessLevel, error) {
	if u == nil {
		return ci.NoAccess, nil
	}
	if u.Admin {
		return ci.Owner, nil
	}
	return sp.st.MemberAccess(ctx, p.ID, u.ID)
}

func (sp storePolicy) Can(ctx context.Context, u *ci.User, p *ci.Project, a Action) error {
	if u != nil && u.State != "active" {
		u = nil
	}
	lvl, err := sp.role(ctx, u, p)
	if err != nil {
		return err
	}
	visible := lvl > ci.NoAccess || p.Visibility == ci.VisibilityPublic ||
		(p.Visibility == ci.VisibilityInternal && u != nil)
	if !visible {
		return ci.ErrProjectNotFound
	}
	var ok bool
	switch a {
	case ReadProject:
		ok = true
	case ReadPipeline, ReadBuild, ReadBuildTrace:
		ok = lvl >= ci.Reporter || p.PublicBuilds
	case UpdateBuild, PlayBuild, UpdatePipeline:
		ok = lvl >= ci.Developer
	}
	if !ok {
		return ci.ErrForbidden
	}
	return nil
}

// allowed reports whether err is a "yes"; other errors than refusals are
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

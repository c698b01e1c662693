package app

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/web"
)

// withUI serves the web UI's pages and hands every other request (the API,
// the runner protocol, git smart HTTP, health checks) to api.
func withUI(ui *web.Server, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ui.Handles(r) {
			// The web UI's forms are a few fields: its bodies are capped
			// like the API's parameters, so no form spills to disk.
			httpx.LimitBody(w, r, httpx.MaxParamBody)
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// rootPassword gives root a web password: GANTRY_ROOT_PASSWORD when set
// (every start, so changing it takes effect), else on a new database a
// generated one printed once.
func rootPassword(ctx context.Context, db store.Store, root *ci.User, cfg Config, fresh bool) error {
	pw, generated := cfg.RootPassword, false
	if pw == "" {
		if !fresh {
			return nil
		}
		pw, generated = auth.NewToken("", 20), true
	} else if h, err := db.UserPasswordHash(ctx, root.ID); err == nil && auth.CheckPassword(h, pw) {
		return nil
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("root password: %w", err)
	}
	if err := db.SetUserPassword(ctx, root.ID, h); err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(os.Stderr, "\nroot password for the web UI (shown once): %s\n\n", pw)
	}
	return nil
}

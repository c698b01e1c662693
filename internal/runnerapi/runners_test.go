package runnerapi

import (
	"encoding/json"
	"github.com/gantryci/gantry/internal/testkit"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/runnerproto"
)

func TestRegister(t *testing.T) { testkit.ForEachDB(t, testRegister) }

func testRegister(t *testing.T, db testkit.DB) {
	tests := []struct {
		name     string
		regToken string // server's registration token
		body     map[string]any
		status   int
		check    func(t *testing.T, e *env, r *ci.Runner)
	}{
		{name: "disabled", regToken: "", body: map[string]any{"token": ""}, status: http.StatusForbidden},
		{name: "bad token", regToken: "reg-secret", body: map[string]any{"token": "nope"}, status: http.StatusForbidden},
		{name: "runner fields", regToken: "reg-secret", status: http.StatusCreated,
			body: map[string]any{"token": "reg-secret", "description": "shell 1", "tag_list": "b, a,b", "run_untagged": false,
				"locked": true, "paused": false, "maximum_timeout": 1200, "access_level": "ref_protected",
				"info": map[string]any{"version": "14.10.0", "features": map[string]bool{"cancelable": true}}},
			check: func(t *testing.T, e *env, r *ci.Runner) {
				if r.Description != "shell 1" || !slices.Equal(r.Tags, []string{"a", "b"}) || r.RunUntagged ||
					!r.Locked || r.MaximumTimeout != 1200 || r.AccessLevel != "ref_protected" || r.RunnerType != ci.RunnerInstance {
					t.Errorf("runner = %+v", r)
				}
				ms, err := e.st.ListRunnerManagers(e.ctx, r.ID)
				if err != nil || len(ms) != 1 || ms[0].Version != "14.10.0" || !ms[0].Features["cancelable"] {
					t.Errorf("managers = %+v, %v", ms, err)
				}
			}},
		{name: "defaults", regToken: "reg-secret", status: http.StatusCreated, body: map[string]any{"token": "reg-secret"},
			check: func(t *testing.T, e *env, r *ci.Runner) {
				if !r.RunUntagged || r.AccessLevel != "not_protected" || r.Paused {
					t.Errorf("runner = %+v", r)
				}
			}},
		{name: "untagged refused without tags", regToken: "reg-secret", status: http.StatusBadRequest,
			body: map[string]any{"token": "reg-secret", "run_untagged": false}},
		{name: "bad access level", regToken: "reg-secret", status: http.StatusBadRequest,
			body: map[string]any{"token": "reg-secret", "access_level": "everyone"}},
		{name: "short maximum timeout", regToken: "reg-secret", status: http.StatusBadRequest,
			body: map[string]any{"token": "reg-secret", "maximum_timeout": 60}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, db, func(c *Config) { c.RegistrationToken = tt.regToken })
			resp, body := e.json(http.MethodPost, "/api/v4/runners", tt.body, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status != http.StatusCreated {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			if string(raw["token_expires_at"]) != "null" {
				t.Errorf("token_expires_at = %s, want null", raw["token_expires_at"])
			}
			var got runnerproto.RegistrationDetails
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.ID == 0 || !strings.HasPrefix(got.Token, "glrt-") {
				t.Fatalf("answer = %s", body)
			}
			r, err := e.st.RunnerByTokenDigest(e.ctx, auth.Digest(got.Token))
			if err != nil || r.ID != got.ID {
				t.Fatalf("stored runner = %+v, %v", r, err)
			}
			if tt.check != nil {
				tt.check(t, e, r)
			}
		})
	}
}

func TestVerify(t *testing.T) { testkit.ForEachDB(t, testVerify) }

func testVerify(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	token, rn := e.runner(nil)
	tests := []struct {
		name   string
		body   map[string]any
		hdr    map[string]string
		status int
	}{
		{"unknown token", map[string]any{"token": "glrt-nope"}, nil, http.StatusForbidden},
		{"no token", map[string]any{}, nil, http.StatusForbidden},
		{"body token", map[string]any{"token": token, "system_id": "s_0123456789ab",
			"info": map[string]any{"version": "19.4.0", "revision": "fc1f1862", "platform": "linux", "architecture": "amd64",
				"features": map[string]any{"cancel_gracefully": true, "image": false, "odd": "x"}}}, nil, http.StatusOK},
		{"header token", map[string]any{}, map[string]string{"RUNNER-TOKEN": token}, http.StatusOK},
	}
	for _, tt := range tests {
		resp, body := e.json(http.MethodPost, "/api/v4/runners/verify", tt.body, tt.hdr)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status = %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		if tt.status == http.StatusOK {
			var got runnerproto.RegistrationDetails
			if err := json.Unmarshal(body, &got); err != nil || got.ID != rn.ID || got.Token != token {
				t.Errorf("%s: answer %s (%v)", tt.name, body, err)
			}
		}
	}
	ms, err := e.st.ListRunnerManagers(e.ctx, rn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range ms {
		if m.SystemID == "s_0123456789ab" {
			found = true
			if m.Version != "19.4.0" || !m.Features["cancel_gracefully"] || m.Features["image"] || m.IPAddress == "" {
				t.Errorf("manager = %+v", m)
			}
		}
	}
	if !found {
		t.Errorf("manager s_0123456789ab not recorded: %+v", ms)
	}
}

func TestUnregister(t *testing.T) { testkit.ForEachDB(t, testUnregister) }

func testUnregister(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	token, _ := e.runner(nil)
	if resp, body := e.json(http.MethodDelete, "/api/v4/runners", map[string]any{"token": "glrt-nope"}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad token: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.json(http.MethodDelete, "/api/v4/runners", map[string]any{"token": token}, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("unregister: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.json(http.MethodPost, "/api/v4/runners/verify", map[string]any{"token": token}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("verify after unregister = %d, want 403", resp.StatusCode)
	}
}

func TestUnregisterManager(t *testing.T) { testkit.ForEachDB(t, testUnregisterManager) }

func testUnregisterManager(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	token, _ := e.runner(nil)
	if resp, body := e.json(http.MethodPost, "/api/v4/runners/verify", map[string]any{"token": token, "system_id": "s_a"}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d %s", resp.StatusCode, body)
	}
	steps := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"bad token", map[string]any{"token": "x", "system_id": "s_a"}, http.StatusForbidden},
		{"missing system_id", map[string]any{"token": token}, http.StatusBadRequest},
		{"known manager", map[string]any{"token": token, "system_id": "s_a"}, http.StatusNoContent},
		{"gone manager", map[string]any{"token": token, "system_id": "s_a"}, http.StatusNotFound},
		{"unknown manager", map[string]any{"token": token, "system_id": "s_b"}, http.StatusNotFound},
	}
	for _, s := range steps {
		if resp, body := e.json(http.MethodDelete, "/api/v4/runners/managers", s.body, nil); resp.StatusCode != s.status {
			t.Errorf("%s: %d %s, want %d", s.name, resp.StatusCode, body, s.status)
		}
	}
	// The runner itself survives.
	if resp, _ := e.json(http.MethodPost, "/api/v4/runners/verify", map[string]any{"token": token}, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("verify after manager removal = %d", resp.StatusCode)
	}
}

func TestResetToken(t *testing.T) { testkit.ForEachDB(t, testResetToken) }

func testResetToken(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	token, rn := e.runner(nil)
	if resp, _ := e.json(http.MethodPost, "/api/v4/runners/reset_authentication_token", map[string]any{"token": "bad"}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad token = %d", resp.StatusCode)
	}
	resp, body := e.json(http.MethodPost, "/api/v4/runners/reset_authentication_token", map[string]any{"token": token}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("reset = %d %s", resp.StatusCode, body)
	}
	var got struct {
		Token          string  `json:"token"`
		TokenExpiresAt *string `json:"token_expires_at"`
	}
	if err := json.Unmarshal(body, &got); err != nil || !strings.HasPrefix(got.Token, "glrt-") || got.Token == token || got.TokenExpiresAt != nil {
		t.Fatalf("answer %s (%v)", body, err)
	}
	if resp, _ := e.json(http.MethodPost, "/api/v4/runners/verify", map[string]any{"token": token}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("old token still valid: %d", resp.StatusCode)
	}
	resp, body = e.json(http.MethodPost, "/api/v4/runners/verify", map[string]any{"token": got.Token}, nil)
	var v runnerproto.RegistrationDetails
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || v.ID != rn.ID {
		t.Errorf("new token verify = %d %s", resp.StatusCode, body)
	}
}

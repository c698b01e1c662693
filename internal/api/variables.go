package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Project CI/CD variables (lib/api/ci/variables.rb), maintainers only
// (admin_cicd_variables).

var (
	// maskableRe and maskableRawRe are Ci::Maskable's REGEX and
	// MASK_AND_RAW_REGEX: masked values are one "word" of 8+ characters.
	maskableRe    = regexp.MustCompile(`^[a-zA-Z0-9_+=/@:.~-]{8,}$`)
	maskableRawRe = regexp.MustCompile(`^\S{8,}$`)
	// variableKeyRe is Ci::HasVariable's key format.
	variableKeyRe = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
)

func maskableValue(v string, raw bool) bool {
	if raw {
		return maskableRawRe.MatchString(v)
	}
	return maskableRe.MatchString(v)
}

// errVariableNotFound is find_variable's not_found!('Variable').
var errVariableNotFound = ci.NotFound("Variable")

// variableInvalid is a model validation failure: 400 with the attribute's
// messages as the message object, as render_validation_error! sends it.
func variableInvalid(attr, msg string) error {
	return &ci.Error{Code: ci.EBadRequest, Message: attr + " " + msg, Body: map[string][]string{attr: {msg}}}
}

// orderedVariable is API::Entities::Ci::Variable, in GitLab's key order.
type orderedVariable struct {
	VariableType     string  `json:"variable_type"`
	Key              string  `json:"key"`
	Value            string  `json:"value"`
	Hidden           bool    `json:"hidden"`
	Protected        bool    `json:"protected"`
	Masked           bool    `json:"masked"`
	Raw              bool    `json:"raw"`
	EnvironmentScope string  `json:"environment_scope"`
	Description      *string `json:"description"`
}

func variableJSON(v *ci.ProjectVariable) orderedVariable {
	vt := "env_var"
	if v.File {
		vt = "file"
	}
	scope := v.EnvironmentScope
	if scope == "" {
		scope = "*"
	}
	return orderedVariable{VariableType: vt, Key: v.Key, Value: v.Value, Protected: v.Protected,
		Masked: v.Masked, Raw: v.Raw, EnvironmentScope: scope, Description: v.Description}
}

// errAmbiguousVariable is find_variable's answer when the key has several
// scopes and no filter[environment_scope] picks one.
var errAmbiguousVariable = &ci.Error{Code: ci.EConflict,
	Message: "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"}

// variablesProject resolves the project and checks admin_cicd_variables.
func (s *Server) variablesProject(q *req) (*ci.Project, error) {
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, err
	}
	if err := q.can(p, lvl, access.AdminVariables); err != nil {
		return nil, err
	}
	return p, nil
}

// findVariable is find_variable (Ci::VariablesFinder): the key, narrowed
// by filter[environment_scope] when given; a key of several scopes needs
// the filter (409).
func (s *Server) findVariable(q *req) (*ci.Project, *ci.ProjectVariable, error) {
	p, err := s.variablesProject(q)
	if err != nil {
		return nil, nil, err
	}
	key := q.r.PathValue("key")
	vars, err := s.store.ListProjectVariables(q.ctx(), p.ID)
	if err != nil {
		return nil, nil, err
	}
	scope, filtered := filterScope(q)
	var found []*ci.ProjectVariable
	for _, v := range vars {
		if v.Key == key && (!filtered || v.EnvironmentScope == scope) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil, errVariableNotFound
	case 1:
		return p, found[0], nil
	}
	return nil, nil, errAmbiguousVariable
}

// filterScope reads filter[environment_scope] from a form, a query or a
// JSON body ({"filter": {"environment_scope": …}}).
func filterScope(q *req) (string, bool) {
	if vs, ok := q.p.Form()["filter[environment_scope]"]; ok && len(vs) > 0 {
		return vs[0], true
	}
	if vs, ok := q.r.URL.Query()["filter[environment_scope]"]; ok && len(vs) > 0 {
		return vs[0], true
	}
	if raw, ok := q.p.Raw("filter"); ok {
		var f struct {
			EnvironmentScope *string `json:"environment_scope"`
		}
		if json.Unmarshal(raw, &f) == nil && f.EnvironmentScope != nil {
			return *f.EnvironmentScope, true
		}
	}
	return "", false
}

// validVariableKey validates a new variable's key as Ci::HasVariable does.
func validVariableKey(key string) error {
	switch {
	case key == "":
		return variableInvalid("key", "can't be blank")
	case len(key) > 255:
		return variableInvalid("key", "is too long (maximum is 255 characters)")
	case !variableKeyRe.MatchString(key):
		return variableInvalid("key", "can contain only letters, digits and '_'.")
	}
	return nil
}

// applyVariableParams sets the optional attributes given in the request
// and validates the result as Ci::Variable does.
func applyVariableParams(q *req, v *ci.ProjectVariable) error {
	if q.p.Has("value") {
		v.Value = q.p.Str("value")
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"protected", &v.Protected}, {"masked", &v.Masked}, {"raw", &v.Raw}} {
		if q.p.Has(b.name) {
			val, err := q.p.Bool(b.name, false)
			if err != nil {
				return err
			}
			*b.dst = val
		}
	}
	if q.p.Has("variable_type") {
		switch q.p.Str("variable_type") {
		case "env_var":
			v.File = false
		case "file":
			v.File = true
		default:
			return ci.Invalid("variable_type does not have a valid value")
		}
	}
	if q.p.Has("environment_scope") {
		v.EnvironmentScope = q.p.Str("environment_scope")
		if v.EnvironmentScope == "" {
			return variableInvalid("environment_scope", "can't be blank")
		}
		if len(v.EnvironmentScope) > 255 {
			return variableInvalid("environment_scope", "is too long (maximum is 255 characters)")
		}
	}
	if q.p.Has("description") {
		d := q.p.Str("description")
		if utf8.RuneCountInString(d) > 255 {
			return variableInvalid("description", "is too long (maximum is 255 characters)")
		}
		v.Description = &d
	}
	if v.Masked && !maskableValue(v.Value, v.Raw) {
		// Runners mask every occurrence of the value in job logs: a short
		// one mangles them and an empty one crashes gitlab-runner 14.10.
		return variableInvalid("value", "is invalid")
	}
	return nil
}

// errKeyTaken is the uniqueness failure of a variable's key.
func errKeyTaken(key string) error {
	return variableInvalid("key", fmt.Sprintf("(%s) has already been taken", key))
}

// listVariables is GET /projects/:id/variables.
func (s *Server) listVariables(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	p, err := s.variablesProject(q)
	if err != nil {
		return err
	}
	vars, err := s.store.ListProjectVariables(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	out := []orderedVariable{}
	for i := pg.offset(); i < len(vars) && len(out) < pg.PerPage; i++ {
		out = append(out, variableJSON(vars[i]))
	}
	s.offsetHeaders(q, pg, pg.offset()+len(out) < len(vars), len(vars))
	return q.json(http.StatusOK, out)
}

// getVariable is GET /projects/:id/variables/:key.
func (s *Server) getVariable(q *req) error {
	_, v, err := s.findVariable(q)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, variableJSON(v))
}

// createVariable is POST /projects/:id/variables.
func (s *Server) createVariable(q *req) error {
	key := q.p.Str("key")
	if !q.p.Has("key") {
		return ci.Invalid("key is missing")
	}
	if !q.p.Has("value") {
		return ci.Invalid("value is missing")
	}
	p, err := s.variablesProject(q)
	if err != nil {
		return err
	}
	if err := validVariableKey(key); err != nil {
		return err
	}
	v := &ci.ProjectVariable{ProjectID: p.ID, Key: key, EnvironmentScope: "*"}
	if err := applyVariableParams(q, v); err != nil {
		return err
	}
	// GitLab's uniqueness is the key within an environment scope.
	if err := s.store.CreateProjectVariable(q.ctx(), v); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errKeyTaken(key)
		}
		return err
	}
	return q.json(http.StatusCreated, variableJSON(v))
}

// updateVariable is PUT /projects/:id/variables/:key: only the given
// attributes change.
func (s *Server) updateVariable(q *req) error {
	_, v, err := s.findVariable(q)
	if err != nil {
		return err
	}
	scope := v.EnvironmentScope
	if err := applyVariableParams(q, v); err != nil {
		return err
	}
	if err := s.store.UpdateProjectVariable(q.ctx(), v, scope); err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errVariableNotFound
		case errors.Is(err, store.ErrConflict):
			return errKeyTaken(v.Key)
		}
		return err
	}
	return q.json(http.StatusOK, variableJSON(v))
}

// deleteVariable is DELETE /projects/:id/variables/:key: 204.
func (s *Server) deleteVariable(q *req) error {
	p, v, err := s.findVariable(q)
	if err != nil {
		return err
	}
	if err := s.store.DeleteProjectVariableScope(q.ctx(), p.ID, v.Key, v.EnvironmentScope); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errVariableNotFound
		}
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

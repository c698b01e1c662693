package api

import (
	"errors"
	"net/http"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Instance CI/CD variables (GitLab's lib/api/admin/ci/variables.rb),
// administrators only. Groups do not exist in Gantry, so instance and
// project variables are the two user-defined layers.

// instanceVariable is API::Entities::Ci::Variable for a
// Ci::InstanceVariable: no hidden, no environment_scope.
type instanceVariable struct {
	VariableType string  `json:"variable_type"`
	Key          string  `json:"key"`
	Value        string  `json:"value"`
	Protected    bool    `json:"protected"`
	Masked       bool    `json:"masked"`
	Raw          bool    `json:"raw"`
	Description  *string `json:"description"`
}

func instanceVariableJSON(v *ci.InstanceVariable) instanceVariable {
	vt := "env_var"
	if v.File {
		vt = "file"
	}
	return instanceVariable{VariableType: vt, Key: v.Key, Value: v.Value, Protected: v.Protected, Masked: v.Masked,
		Raw: v.Raw, Description: v.Description}
}

// errInstanceVariableNotFound is not_found!('InstanceVariable').
var errInstanceVariableNotFound = ci.NotFound("InstanceVariable")

// adminOnly is authenticated_as_admin!.
func adminOnly(q *req) error {
	if !q.caller.Admin() {
		return ci.ErrForbidden
	}
	return nil
}

// applyInstanceParams applies the request's attributes with the project
// variables' rules (Ci::HasVariable, Ci::Maskable).
func applyInstanceParams(q *req, v *ci.InstanceVariable) error {
	pv := &ci.ProjectVariable{Key: v.Key, Value: v.Value, Protected: v.Protected, Masked: v.Masked, Raw: v.Raw,
		File: v.File, Description: v.Description}
	if err := applyVariableParams(q, pv); err != nil {
		return err
	}
	v.Value, v.Protected, v.Masked, v.Raw, v.File, v.Description = pv.Value, pv.Protected, pv.Masked, pv.Raw, pv.File, pv.Description
	return nil
}

func (s *Server) findInstanceVariable(q *req) (*ci.InstanceVariable, error) {
	if err := adminOnly(q); err != nil {
		return nil, err
	}
	vars, err := s.store.ListInstanceVariables(q.ctx())
	if err != nil {
		return nil, err
	}
	key := q.r.PathValue("key")
	for _, v := range vars {
		if v.Key == key {
			return v, nil
		}
	}
	return nil, errInstanceVariableNotFound
}

// listInstanceVariables is GET /admin/ci/variables.
func (s *Server) listInstanceVariables(q *req) error {
	if err := adminOnly(q); err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	vars, err := s.store.ListInstanceVariables(q.ctx())
	if err != nil {
		return err
	}
	out := make([]instanceVariable, 0, len(vars))
	for _, v := range vars {
		out = append(out, instanceVariableJSON(v))
	}
	return q.json(http.StatusOK, paged(s, q, pg, out))
}

// getInstanceVariable is GET /admin/ci/variables/:key.
func (s *Server) getInstanceVariable(q *req) error {
	v, err := s.findInstanceVariable(q)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, instanceVariableJSON(v))
}

// createInstanceVariable is POST /admin/ci/variables.
func (s *Server) createInstanceVariable(q *req) error {
	if err := adminOnly(q); err != nil {
		return err
	}
	if !q.p.Has("key") {
		return ci.Invalid("key is missing")
	}
	if !q.p.Has("value") {
		return ci.Invalid("value is missing")
	}
	key := q.p.Str("key")
	if err := validVariableKey(key); err != nil {
		return err
	}
	v := &ci.InstanceVariable{Key: key}
	if err := applyInstanceParams(q, v); err != nil {
		return err
	}
	if err := s.store.CreateInstanceVariable(q.ctx(), v); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errKeyTaken(key)
		}
		return err
	}
	return q.json(http.StatusCreated, instanceVariableJSON(v))
}

// updateInstanceVariable is PUT /admin/ci/variables/:key.
func (s *Server) updateInstanceVariable(q *req) error {
	v, err := s.findInstanceVariable(q)
	if err != nil {
		return err
	}
	if err := applyInstanceParams(q, v); err != nil {
		return err
	}
	if err := s.store.UpdateInstanceVariable(q.ctx(), v); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errInstanceVariableNotFound
		}
		return err
	}
	return q.json(http.StatusOK, instanceVariableJSON(v))
}

// deleteInstanceVariable is DELETE /admin/ci/variables/:key: 204.
func (s *Server) deleteInstanceVariable(q *req) error {
	v, err := s.findInstanceVariable(q)
	if err != nil {
		return err
	}
	if err := s.store.DeleteInstanceVariable(q.ctx(), v.Key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errInstanceVariableNotFound
		}
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

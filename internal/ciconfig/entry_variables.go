package ciconfig

import (
	"slices"
	"strings"
)

// variableEntries are the keys of a variable's hash form (Entry::Variable's
// ComplexVariable, lib/gitlab/ci/config/entry/variable.rb): description and
// options only in the top-level variables:. A variable stops at its first
// error and is then dropped.
var variableEntries = entries[*Variable]{
	{key: "value", nulls: true, decode: func(vv *Variable, f field) bool {
		if !isScalar(f.val) {
			f.v.add(f.loc, "config value must be an alphanumeric string")
			return false
		}
		vv.Value = f.text()
		return true
	}},
	{key: "description", in: inRoot, nulls: true, decode: textOf(func(vv *Variable) *string { return &vv.Description })},
	{key: "expand", nulls: true, decode: func(vv *Variable, f field) bool {
		b, isBool := f.val.(bool)
		if !isBool {
			f.v.add(f.loc, "config expand should be a boolean value")
			return false
		}
		vv.Raw = !b
		return true
	}},
	{key: "options", in: inRoot, nulls: true, decode: func(vv *Variable, f field) bool {
		opts, isList := stringList(f.val)
		switch {
		case !isList:
			f.v.add(f.loc, "config options should be an array of strings")
		case !slices.Contains(opts, vv.Value):
			f.v.add(f.loc, "config value must be present in options")
		default:
			return true
		}
		return false
	}},
}

// variables validates a variables: hash (Entry::Variables) of the top level
// (inRoot), a job (inJob) or a rule (inJobRule).
func (v *validator) variables(loc string, val any, in scope) []Variable {
	if val == nil {
		return nil
	}
	h, ok := val.(*omap)
	if !ok {
		v.add(loc, "config should be a hash")
		return nil
	}
	out := make([]Variable, 0, h.len())
	for _, k := range h.keys {
		if !validVarName(k) {
			v.add(loc, "config should be a hash of key value pairs")
			continue
		}
		switch t := h.m[k].(type) {
		case string, int64, float64, bool, nil:
			out = append(out, Variable{Key: k, Value: rubyToS(t)})
		case *omap:
			if bad := variableEntries.unknown(t, in); len(bad) > 0 {
				v.add(loc+":"+k, "config uses invalid data keys: %s", strings.Join(bad, ", "))
				continue
			}
			vv := Variable{Key: k}
			if variableEntries.decode(&vv, v, loc+":"+k, t, in, true) {
				out = append(out, vv)
			}
		default:
			v.errs = append(v.errs, "variable definition must be either a string or a hash")
		}
	}
	return out
}

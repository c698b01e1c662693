package ciconfig

import "slices"

// environmentEntries are the keys of environment: in hash form
// (Entry::Environment, lib/gitlab/ci/config/entry/environment.rb). name is
// required and read first. The first error rejects the environment.
var environmentEntries = entries[*Job]{
	{key: "name"},
	{key: "url", nulls: true, decode: textOf(func(j *Job) *string { return &j.EnvironmentURL })},
	{key: "action", nulls: true, absent: true, decode: func(j *Job, f field) bool {
		if !f.present {
			j.EnvironmentAction = "start"
			return true
		}
		return attr(f, environmentAction, &j.EnvironmentAction)
	}},
	{key: "on_stop", nulls: true, decode: textOf(func(j *Job) *string { return &j.EnvironmentOnStop })},
	{key: "auto_stop_in", nulls: true, decode: textOf(func(j *Job) *string { return &j.EnvironmentAutoStopIn })},
	{key: "kubernetes"},
	{key: "deployment_tier", nulls: true, decode: textOf(func(j *Job) *string { return &j.EnvironmentTier })},
}

var environmentAction = kind[string]{
	func(x any) (string, bool) {
		s, _ := x.(string)
		return s, slices.Contains([]string{"start", "prepare", "stop", "verify", "access"}, s)
	},
	"should be start, stop, prepare, verify, or access",
}

// environment validates environment: (a name or a hash) into j.
func (v *validator) environment(loc string, val any, j *Job) bool {
	switch t := val.(type) {
	case string:
		j.Environment = t
		j.EnvironmentAction = "start"
		return true
	case *omap:
		if v.rejectUnknown(loc, environmentEntries.unknown(t, anywhere)) {
			return false
		}
		name, ok := requiredString(v, loc, t, "name")
		if !ok {
			return false
		}
		j.Environment = name
		return environmentEntries.decode(j, v, loc, t, anywhere, true)
	}
	v.add(loc, "config should be a hash or a string")
	return false
}

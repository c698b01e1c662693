package ciconfig

import "slices"

// environmentEntries are the keys of environment: in hash form
// (Entry::Environment, lib/gitlab/ci/config/entry/environment.rb). name is
// required and read first. The first error rejects the environment.
var environmentEntries = entries[*Job]{
	{key: "name"},
	{key: "url", decode: func(j *Job, f field) bool {
		s, isStr := f.val.(string)
		switch {
		case !isStr:
			f.attrError("should be a string")
		case len(s) > 255:
			f.attrError("is too long (maximum is 255 characters)")
		default:
			j.EnvironmentURL = s
			return true
		}
		return false
	}},
	{key: "action", nulls: true, absent: true, decode: func(j *Job, f field) bool {
		if !f.present {
			j.EnvironmentAction = "start"
			return true
		}
		return attr(f, environmentAction, &j.EnvironmentAction)
	}},
	{key: "deployment_tier", decode: attrOf(deploymentTier, func(j *Job) *string { return &j.EnvironmentTier })},
	{key: "on_stop", decode: attrOf(aString, func(j *Job) *string { return &j.EnvironmentOnStop })},
	{key: "kubernetes", decode: func(_ *Job, f field) bool {
		if _, isHash := f.val.(*omap); !isHash {
			f.attrError("should be a hash")
			return false
		}
		return true
	}},
	{key: "auto_stop_in", decode: func(j *Job, f field) bool {
		if _, dur := durationValue(f.val); !dur && f.text() != "never" {
			f.attrError("should be a duration")
			return false
		}
		j.EnvironmentAutoStopIn = f.text()
		return true
	}},
}

var environmentAction = kind[string]{
	func(x any) (string, bool) {
		s, _ := x.(string)
		return s, slices.Contains([]string{"start", "prepare", "stop", "verify", "access"}, s)
	},
	"should be start, stop, prepare, verify, or access",
}

// deploymentTier is Environment.tiers.
var deploymentTier = oneOfMsg("must be one of production, staging, testing, development, other",
	"production", "staging", "testing", "development", "other")

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

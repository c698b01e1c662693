package ciconfig

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gantryci/gantry/internal/ciconfig/expr"
)

// Key lists of GitLab's entries (entry/root.rb, job.rb, processable.rb,
// bridge.rb, default.rb; EE keys included so valid configs are accepted).
var (
	rootKeys = []string{"default", "include", "before_script", "image", "services", "after_script", "variables", "stages", "cache", "workflow", "types", "spec"}
	// reservedNames cannot be job names.
	processableKeys  = []string{"extends", "stage", "only", "except", "rules", "variables", "inherit", "allow_failure", "when", "needs", "resource_group", "environment", "interruptible"}
	buildKeys        = []string{"tags", "script", "run", "type", "image", "services", "start_in", "artifacts", "cache", "dependencies", "before_script", "after_script", "hooks", "coverage", "retry", "parallel", "timeout", "release", "id_tokens", "publish", "pages", "manual_confirmation", "secrets", "dast_configuration", "identity"}
	bridgeKeys       = []string{"trigger", "parallel", "manual_confirmation"}
	defaultKeys      = []string{"after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens", "image", "interruptible", "retry", "services", "tags", "timeout", "identity"}
	ruleKeys         = []string{"if", "changes", "exists", "when", "start_in", "allow_failure", "variables", "needs", "interruptible"}
	workflowKeys     = []string{"rules", "name", "auto_cancel"}
	workflowRuleKeys = []string{"if", "changes", "exists", "when", "variables", "auto_cancel", "start_in", "allow_failure", "needs"}
	jobWhen          = []string{"on_success", "on_failure", "always", "manual", "delayed"}
	bridgeWhen       = []string{"on_success", "on_failure", "always", "manual"}
	ruleWhen         = []string{"on_success", "on_failure", "always", "never", "manual", "delayed"}
	artifactsKeys    = []string{"name", "untracked", "paths", "reports", "when", "expire_in", "expose_as", "exclude", "public", "access"}
	cacheKeys        = []string{"key", "untracked", "paths", "when", "policy", "fallback_keys", "unprotect"}
	imageKeys        = []string{"name", "entrypoint", "docker", "kubernetes", "pull_policy"}
	serviceKeys      = []string{"name", "entrypoint", "command", "alias", "ports", "variables", "pull_policy", "docker", "kubernetes"}
	envKeys          = []string{"name", "url", "action", "on_stop", "auto_stop_in", "kubernetes", "deployment_tier"}
	retryWhen        = []string{"always", "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure", "runner_system_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure", "unmet_prerequisites", "scheduler_failure", "data_integrity_failure", "missing_dependency_failure", "forward_deployment_failure", "user_blocked", "project_deleted", "ci_quota_exceeded", "pipeline_loop_detected", "no_matching_runner", "trace_size_exceeded", "builds_disabled", "environment_creation_failure", "deployment_rejected", "failed_outdated_deployment_job", "protected_environment_failure", "insufficient_bridge_permissions", "downstream_bridge_project_not_found", "invalid_bridge_trigger", "upstream_bridge_project_not_found", "insufficient_upstream_permissions", "bridge_pipeline_is_child_pipeline", "downstream_pipeline_creation_failed", "secrets_provider_not_found", "reached_max_descendant_pipelines_depth", "ip_restriction_failure", "reached_max_pipeline_hierarchy_size", "reached_downstream_pipeline_trigger_rate_limit"}
)

// Limits of GitLab's entries.
const (
	maxNestingLevel = 10
	parallelLimit   = 200
	maxCaches       = 4
	maxJobNameLen   = 255
	maxNeedNameLen  = 128
	maxNeeds        = 50
)

// validator collects syntax errors in config order. Every message is
// "<location> <message>" lowercased in full, like Validator#messages.
type validator struct {
	errs     []string
	warnings []string
}

func (v *validator) add(loc, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if loc != "" {
		msg = loc + " " + msg
	}
	v.errs = append(v.errs, strings.ToLower(msg))
}

// humanize is ActiveSupport's String#humanize, used for attribute names in
// messages ("allow_failure" -> "allow failure").
func humanize(s string) string {
	s = strings.TrimSuffix(s, "_id")
	s = strings.TrimLeft(s, "_")
	return strings.ReplaceAll(s, "_", " ")
}

func unknownKeys(h *omap, allowed ...[]string) []string {
	var out []string
	for _, k := range h.keys {
		known := false
		for _, a := range allowed {
			if slices.Contains(a, k) {
				known = true
				break
			}
		}
		if !known {
			out = append(out, k)
		}
	}
	return out
}

// flatten flattens nested arrays (from !reference) fully.
func flatten(v any) []any {
	arr, ok := v.([]any)
	if !ok {
		return nil
	}
	var out []any
	for _, e := range arr {
		if sub, ok := e.([]any); ok {
			out = append(out, flatten(sub)...)
		} else {
			out = append(out, e)
		}
	}
	return out
}

func nestingDepth(v any) int {
	arr, ok := v.([]any)
	if !ok {
		return 0
	}
	d := 1
	for _, e := range arr {
		if n := nestingDepth(e) + 1; n > d {
			d = n
		}
	}
	return d
}

func stringList(v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// stringOrList accepts a string or an array of strings.
func stringOrList(v any) ([]string, bool) {
	if s, ok := v.(string); ok {
		return []string{s}, true
	}
	return stringList(v)
}

// commands validates script-like keys: a string or nested arrays of strings
// up to 10 levels, flattened.
func (v *validator) commands(loc string, val any) []string {
	if s, ok := val.(string); ok {
		return []string{s}
	}
	arr, ok := val.([]any)
	if ok && nestingDepth(val) <= maxNestingLevel {
		out := make([]string, 0, len(arr))
		good := true
		for _, e := range flatten(arr) {
			s, isStr := e.(string)
			if !isStr {
				good = false
				break
			}
			out = append(out, s)
		}
		if good {
			return out
		}
	}
	v.add(loc, "config should be a string or a nested array of strings up to %d levels deep", maxNestingLevel)
	return nil
}

// variables validates a variables: hash. allowData lists the keys allowed
// in the hash form (value, description, expand, options for globals).
func (v *validator) variables(loc string, val any, allowData []string) []Variable {
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
			bad := unknownKeys(t, allowData)
			if len(bad) > 0 {
				v.add(loc+":"+k, "config uses invalid data keys: %s", strings.Join(bad, ", "))
				continue
			}
			vv := Variable{Key: k}
			if x, ok := t.get("value"); ok {
				if !isScalar(x) {
					v.add(loc+":"+k, "config value must be an alphanumeric string")
					continue
				}
				vv.Value = rubyToS(x)
			}
			if x, ok := t.get("description"); ok {
				vv.Description = rubyToS(x)
			}
			if x, ok := t.get("expand"); ok {
				b, isBool := x.(bool)
				if !isBool {
					v.add(loc+":"+k, "config expand should be a boolean value")
					continue
				}
				vv.Raw = !b
			}
			if x, ok := t.get("options"); ok {
				opts, isList := stringList(x)
				if !isList {
					v.add(loc+":"+k, "config options should be an array of strings")
					continue
				}
				if !slices.Contains(opts, vv.Value) {
					v.add(loc+":"+k, "config value must be present in options")
					continue
				}
			}
			out = append(out, vv)
		default:
			v.errs = append(v.errs, "variable definition must be either a string or a hash")
		}
	}
	return out
}

var varNameRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func validVarName(s string) bool { return varNameRe.MatchString(s) }

func isScalar(v any) bool {
	switch v.(type) {
	case string, int64, float64, bool:
		return true
	}
	return false
}

// image validates image: (string or hash).
func (v *validator) image(loc string, val any) *Image {
	switch t := val.(type) {
	case string:
		return &Image{Name: t}
	case *omap:
		if bad := unknownKeys(t, imageKeys); len(bad) > 0 {
			v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
			return nil
		}
		return v.imageHash(loc, t)
	}
	v.add(loc, "config should be a hash or a string")
	return nil
}

func (v *validator) imageHash(loc string, t *omap) *Image {
	img := &Image{}
	name, ok := t.get("name")
	if s, isStr := name.(string); ok && isStr && s != "" {
		img.Name = s
	} else {
		v.add(loc, "config missing required keys: name")
		return nil
	}
	if e, ok := t.get("entrypoint"); ok {
		if l, isList := stringList(e); isList {
			img.Entrypoint = l
		} else {
			v.add(loc, "entrypoint should be an array of strings")
		}
	}
	if e, ok := t.get("command"); ok {
		if l, isList := stringList(e); isList {
			img.Command = l
		} else {
			v.add(loc, "command should be an array of strings")
		}
	}
	if e, ok := t.get("alias"); ok {
		if s, isStr := e.(string); isStr {
			img.Alias = s
		} else {
			v.add(loc, "alias should be a string")
		}
	}
	if e, ok := t.get("pull_policy"); ok {
		l, isList := stringOrList(e)
		for _, p := range l {
			if !slices.Contains([]string{"always", "never", "if-not-present"}, p) {
				isList = false
			}
		}
		if isList {
			img.PullPolicy = l
		} else {
			v.add(loc+":pull_policy", "config should be a string or an array of strings")
		}
	}
	return img
}

func (v *validator) services(loc string, val any) []Image {
	arr, ok := val.([]any)
	if !ok {
		v.add(loc, "config should be a array")
		return nil
	}
	out := []Image{}
	for _, e := range arr {
		switch t := e.(type) {
		case string:
			out = append(out, Image{Name: t})
		case *omap:
			if bad := unknownKeys(t, serviceKeys); len(bad) > 0 {
				v.add(loc+":service", "config contains unknown keys: %s", strings.Join(bad, ", "))
				continue
			}
			if img := v.imageHash(loc+":service", t); img != nil {
				out = append(out, *img)
			}
		default:
			v.add(loc+":service", "config should be a hash or a string")
		}
	}
	return out
}

func (v *validator) artifacts(loc string, val any) *Artifacts {
	h, ok := val.(*omap)
	if !ok {
		if val == nil {
			return nil
		}
		v.add(loc, "config should be a hash")
		return nil
	}
	if bad := unknownKeys(h, artifactsKeys); len(bad) > 0 {
		v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
		return nil
	}
	a := &Artifacts{}
	if x, ok := h.get("name"); ok {
		if s, isStr := x.(string); isStr {
			a.Name = s
		} else {
			v.add(loc, "name should be a string")
		}
	}
	if x, ok := h.get("untracked"); ok {
		if b, isBool := x.(bool); isBool {
			a.Untracked = b
		} else {
			v.add(loc, "untracked should be a boolean value")
		}
	}
	if x, ok := h.get("paths"); ok {
		if l, isList := stringList(x); isList {
			a.Paths = l
		} else {
			v.add(loc, "paths should be an array of strings")
		}
	}
	if x, ok := h.get("exclude"); ok {
		if l, isList := stringList(x); isList {
			a.Exclude = l
		} else {
			v.add(loc, "exclude should be an array of strings")
		}
	}
	if x, ok := h.get("when"); ok {
		if s, isStr := x.(string); isStr && slices.Contains([]string{"on_success", "on_failure", "always"}, s) {
			a.When = s
		} else {
			v.add(loc, "when should be one of: on_success, on_failure, always")
		}
	}
	if x, ok := h.get("expire_in"); ok {
		s := rubyToS(x)
		if _, dur := durationValue(x); s == "never" || dur {
			a.ExpireIn = s
		} else {
			v.add(loc, "expire in should be a duration")
		}
	}
	if x, ok := h.get("expose_as"); ok {
		if s, isStr := x.(string); isStr {
			a.ExposeAs = s
		} else {
			v.add(loc, "expose as should be a string")
		}
	}
	if x, ok := h.get("reports"); ok {
		rh, isHash := x.(*omap)
		if !isHash {
			v.add(loc+":reports", "config should be a hash")
		} else {
			a.Reports = map[string][]string{}
			for _, k := range rh.keys {
				rv := rh.m[k]
				if k == "coverage_report" {
					ch, isH := rv.(*omap)
					if !isH {
						v.add(loc+":reports:coverage_report", "config should be a hash")
						continue
					}
					p, _ := ch.get("path")
					f, _ := ch.get("coverage_format")
					ps, _ := p.(string)
					fs, _ := f.(string)
					if ps == "" || (fs != "cobertura" && fs != "jacoco") {
						v.add(loc+":reports:coverage_report", "config missing required keys: coverage_format, path")
						continue
					}
					a.Reports[k] = []string{ps}
					a.CoverageFormat = fs
					continue
				}
				l, isList := stringOrList(rv)
				if !isList {
					v.add(loc+":reports", "%s should be an array of strings or a string", humanize(k))
					continue
				}
				a.Reports[k] = l
			}
		}
	}
	return a
}

func (v *validator) cache(loc string, val any) []Cache {
	var items []any
	switch t := val.(type) {
	case *omap:
		items = []any{t}
	case []any:
		items = t
		if len(items) > maxCaches {
			v.add(loc, "config no more than %d caches can be created", maxCaches)
			return nil
		}
	default:
		v.add(loc, "config should be a hash or an array of hashes")
		return nil
	}
	out := []Cache{}
	for _, it := range items {
		h, ok := it.(*omap)
		if !ok {
			v.add(loc, "config should be a hash")
			continue
		}
		if bad := unknownKeys(h, cacheKeys); len(bad) > 0 {
			v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
			continue
		}
		c := Cache{Key: "default", Policy: "pull-push", When: "on_success"}
		if x, ok := h.get("key"); ok {
			switch kt := x.(type) {
			case string, int64, float64:
				c.Key = rubyToS(kt)
				if strings.Contains(c.Key, "/") || strings.Trim(c.Key, ".") == "" {
					v.add(loc+":key", "config cannot contain the \"/\" character")
				}
			case *omap:
				files, fok := kt.get("files")
				fl, isList := stringList(files)
				switch {
				case !fok:
					v.add(loc+":key", "config missing required keys: files")
				case !isList:
					v.add(loc+":key:files", "config should be an array of strings")
				case len(fl) == 0:
					v.add(loc+":key:files", "config requires at least 1 item")
				case len(fl) > 2:
					v.add(loc+":key:files", "config has too many items (maximum is 2)")
				default:
					// The runner payload gets the computed key; without
					// file hashes here, keep a stable textual form.
					prefix, _ := kt.get("prefix")
					c.Key = strings.TrimPrefix(rubyToS(prefix)+"-", "-") + strings.Join(fl, ",")
					c.KeyFiles = fl
					c.KeyPrefix = rubyToS(prefix)
				}
			default:
				v.add(loc+":key", "should be a hash, a string or a symbol")
			}
		}
		if x, ok := h.get("paths"); ok {
			if l, isList := stringList(x); isList {
				c.Paths = l
			} else {
				v.add(loc+":paths", "config should be an array of strings")
			}
		}
		if x, ok := h.get("untracked"); ok {
			if b, isBool := x.(bool); isBool {
				c.Untracked = b
			} else {
				v.add(loc+":untracked", "config should be a boolean value")
			}
		}
		if x, ok := h.get("policy"); ok {
			s, _ := x.(string)
			if slices.Contains([]string{"pull-push", "push", "pull"}, s) || strings.Contains(s, "$") {
				c.Policy = s
			} else {
				v.add(loc+":policy", "config should be one of: pull-push, push, pull")
			}
		}
		if x, ok := h.get("when"); ok {
			s, _ := x.(string)
			if slices.Contains([]string{"on_success", "on_failure", "always"}, s) {
				c.When = s
			} else {
				v.add(loc+":when", "config should be one of: on_success, on_failure, always")
			}
		}
		if x, ok := h.get("fallback_keys"); ok {
			if l, isList := stringList(x); isList {
				c.FallbackKeys = l
			} else {
				v.add(loc+":fallback_keys", "config should be an array of strings")
			}
		}
		if x, ok := h.get("unprotect"); ok {
			if b, isBool := x.(bool); isBool {
				c.Unprotect = b
			} else {
				v.add(loc+":unprotect", "config should be a boolean value")
			}
		}
		out = append(out, c)
	}
	return out
}

func (v *validator) retry(loc string, val any) *Retry {
	switch t := val.(type) {
	case int64:
		if t < 0 {
			v.add(loc, "config must be greater than or equal to 0")
			return nil
		}
		if t > 2 {
			v.add(loc, "config must be less than or equal to 2")
			return nil
		}
		return &Retry{Max: int(t)}
	case *omap:
		if bad := unknownKeys(t, []string{"max", "when", "exit_codes"}); len(bad) > 0 {
			v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
			return nil
		}
		r := &Retry{}
		if x, ok := t.get("max"); ok {
			n, isInt := x.(int64)
			switch {
			case !isInt:
				v.add(loc, "max config has to be an integer")
				return nil
			case n < 0:
				v.add(loc, "max config must be greater than or equal to 0")
				return nil
			case n > 2:
				v.add(loc, "max config must be less than or equal to 2")
				return nil
			}
			r.Max = int(n)
		}
		if x, ok := t.get("when"); ok {
			l, isList := stringOrList(x)
			if !isList {
				v.add(loc, "when should be a string or an array of strings")
				return nil
			}
			var bad []string
			for _, w := range l {
				if !slices.Contains(retryWhen, w) {
					bad = append(bad, w)
				}
			}
			if len(bad) > 0 {
				if _, single := x.(string); single {
					v.add(loc, "when unknown value: %s", bad[0])
				} else {
					v.add(loc, "when contains unknown values: %s", strings.Join(bad, ", "))
				}
				return nil
			}
			r.When = l
		}
		if x, ok := t.get("exit_codes"); ok {
			codes, good := intList(x)
			if !good {
				v.add(loc, "exit codes should be an array of integers or an integer")
				return nil
			}
			r.ExitCodes = codes
		}
		return r
	}
	v.add(loc, "config has to be either an integer or a hash")
	return nil
}

func intList(x any) ([]int, bool) {
	switch t := x.(type) {
	case int64:
		return []int{int(t)}, true
	case []any:
		out := make([]int, 0, len(t))
		for _, e := range t {
			n, ok := e.(int64)
			if !ok {
				return nil, false
			}
			out = append(out, int(n))
		}
		return out, true
	}
	return nil, false
}

// needs validates needs: (a job-level or rule-level entry).
func (v *validator) needs(loc string, val any) ([]Need, bool) {
	var items []any
	switch t := val.(type) {
	case []any:
		items = flatten(t)
	case *omap, string:
		items = []any{t}
	default:
		v.add(loc, "config can only be a hash or an array")
		return nil, false
	}
	out := []Need{}
	ok := true
	for _, it := range items {
		switch t := it.(type) {
		case string:
			out = append(out, Need{Job: t, Artifacts: true})
		case *omap:
			if t.has("pipeline") && !t.has("job") {
				// needs:pipeline (status mirror) is a bridge need; accepted.
				p, _ := t.get("pipeline")
				out = append(out, Need{Pipeline: rubyToS(p)})
				continue
			}
			if bad := unknownKeys(t, []string{"job", "artifacts", "optional", "parallel", "pipeline", "project", "ref"}); len(bad) > 0 {
				v.add(loc+":need", "config contains unknown keys: %s", strings.Join(bad, ", "))
				ok = false
				continue
			}
			jn, _ := t.get("job")
			name, isStr := jn.(string)
			if !isStr {
				v.add(loc+":need", "config missing required keys: job")
				ok = false
				continue
			}
			n := Need{Job: name, Artifacts: true}
			if x, has := t.get("artifacts"); has {
				b, isBool := x.(bool)
				if !isBool {
					v.add(loc+":need", "artifacts should be a boolean value")
					ok = false
					continue
				}
				n.Artifacts = b
			}
			if x, has := t.get("optional"); has {
				b, isBool := x.(bool)
				if !isBool {
					v.add(loc+":need", "optional should be a boolean value")
					ok = false
					continue
				}
				n.Optional = b
			}
			if x, has := t.get("pipeline"); has {
				n.Pipeline = rubyToS(x)
			}
			if x, has := t.get("project"); has {
				n.Project = rubyToS(x)
			}
			if x, has := t.get("ref"); has {
				n.Ref = rubyToS(x)
			}
			if x, has := t.get("parallel"); has {
				ph, _ := x.(*omap)
				m, _ := ph.get("matrix")
				combos, good := v.matrix(loc+":need:parallel:matrix", m)
				if !good {
					ok = false
					continue
				}
				n.matrix = combos
			}
			out = append(out, n)
		default:
			v.add(loc+":need", "has an unsupported type")
			ok = false
		}
	}
	return out, ok
}

// matrix validates parallel:matrix and returns the expanded combinations,
// each as ordered key/value pairs.
func (v *validator) matrix(loc string, val any) ([][]Variable, bool) {
	arr, ok := val.([]any)
	if !ok || len(arr) == 0 {
		v.add(loc, "config should be an array of hashes")
		return nil, false
	}
	var combos [][]Variable
	for _, e := range arr {
		h, ok := e.(*omap)
		if !ok {
			v.add(loc, "config should be an array of hashes")
			return nil, false
		}
		if h.len() == 0 {
			v.add(loc+":variables", "config requires at least 1 items")
			return nil, false
		}
		partial := [][]Variable{{}}
		for _, k := range h.keys {
			var vals []string
			switch t := h.m[k].(type) {
			case []any:
				for _, x := range flatten(t) {
					if !isScalar(x) {
						v.add(loc+":variables", "config should be a hash of key value pairs")
						return nil, false
					}
					vals = append(vals, rubyToS(x))
				}
			case string, int64, float64, bool:
				vals = []string{rubyToS(t)}
			default:
				v.add(loc+":variables", "config should be a hash of key value pairs")
				return nil, false
			}
			var next [][]Variable
			for _, p := range partial {
				for _, val := range vals {
					c := append(slices.Clone(p), Variable{Key: k, Value: val})
					next = append(next, c)
				}
			}
			partial = next
			if len(partial) > parallelLimit {
				break
			}
		}
		combos = append(combos, partial...)
		if len(combos) > parallelLimit {
			v.add(loc, "config generates too many jobs (maximum is %d)", parallelLimit)
			return nil, false
		}
	}
	return combos, true
}

// rules validates a rules: list of a job (or workflow) and returns it.
func (v *validator) rules(loc string, val any, allowedKeys, allowedWhen []string, jobVarsData bool) ([]*rule, bool) {
	arr, ok := val.([]any)
	if !ok || nestingDepth(val) > maxNestingLevel {
		v.add(strings.TrimSuffix(loc, ":rules"), "rules should be an array containing hashes and arrays of hashes")
		return nil, false
	}
	var out []*rule
	good := true
	for _, e := range flatten(arr) {
		rloc := loc + ":rule"
		h, ok := e.(*omap)
		if !ok {
			v.add(strings.TrimSuffix(loc, ":rules"), "rules should be an array containing hashes and arrays of hashes")
			return nil, false
		}
		if h.len() == 0 {
			v.add(rloc, "config can't be blank")
			good = false
			continue
		}
		if bad := unknownKeys(h, allowedKeys); len(bad) > 0 {
			v.add(rloc, "config contains unknown keys: %s", strings.Join(bad, ", "))
			good = false
			continue
		}
		r := &rule{keys: h.keys}
		if x, has := h.get("if"); has {
			s, isStr := x.(string)
			if !isStr || !expr.Valid(s) {
				v.add(rloc, "if invalid expression syntax")
				good = false
				continue
			}
			r.ifExpr, r.hasIf = s, true
		}
		if x, has := h.get("changes"); has {
			paths := x
			if ch, isHash := x.(*omap); isHash {
				if bad := unknownKeys(ch, []string{"paths", "compare_to"}); len(bad) > 0 {
					v.add(rloc+":changes", "config contains unknown keys: %s", strings.Join(bad, ", "))
					good = false
					continue
				}
				paths, _ = ch.get("paths")
			}
			l, isList := stringList(paths)
			if !isList {
				v.add(rloc+":changes", "config should be an array of strings")
				good = false
				continue
			}
			if len(l) > maxNeeds {
				v.add(rloc+":changes", "config has too many entries (maximum 50)")
				good = false
				continue
			}
			r.changes, r.hasChanges = l, true
		}
		if x, has := h.get("exists"); has {
			paths := x
			if ch, isHash := x.(*omap); isHash {
				paths, _ = ch.get("paths")
			}
			l, isList := stringOrList(paths)
			if !isList {
				v.add(rloc, "exists should be an array of strings")
				good = false
				continue
			}
			r.exists, r.hasExists = l, true
		}
		if x, has := h.get("when"); has {
			s, isStr := x.(string)
			if !isStr || !slices.Contains(allowedWhen, s) {
				v.add(rloc, "when unknown value: %s", rubyToS(x))
				good = false
				continue
			}
			r.when = s
		}
		if x, has := h.get("start_in"); has {
			if r.when != "delayed" {
				v.add(rloc, "config contains disallowed keys: start_in")
				good = false
				continue
			}
			secs, dur := durationValue(x)
			if !dur {
				v.add(rloc, "start in should be a duration")
				good = false
				continue
			}
			if secs > limitWeek {
				v.add(rloc, "start in should not exceed the limit")
				good = false
				continue
			}
			r.startIn = rubyToS(x)
		} else if r.when == "delayed" {
			v.add(rloc, "start in can't be blank")
			good = false
			continue
		}
		if x, has := h.get("allow_failure"); has {
			b, isBool := x.(bool)
			if !isBool {
				v.add(rloc, "allow failure should be a boolean value")
				good = false
				continue
			}
			r.allowFailure = &b
		}
		if x, has := h.get("interruptible"); has {
			b, isBool := x.(bool)
			if !isBool {
				v.add(rloc, "interruptible should be a boolean value")
				good = false
				continue
			}
			r.interruptible = &b
		}
		if x, has := h.get("auto_cancel"); has {
			if r.autoCancel, ok = v.autoCancel(rloc+":auto_cancel", x); !ok {
				good = false
				continue
			}
		}
		if x, has := h.get("variables"); has {
			vars := v.variables(rloc+":variables", x, []string{"value", "expand"})
			r.variables = vars
		}
		if x, has := h.get("needs"); has {
			n, nok := v.needs(rloc+":needs", x)
			if !nok {
				good = false
				continue
			}
			r.needs, r.hasNeeds = n, true
		}
		out = append(out, r)
	}
	return out, good
}

// policy validates only:/except:.
func (v *validator) policy(loc string, val any, isOnly bool) *policy {
	p := &policy{}
	switch t := val.(type) {
	case []any, string:
		refs, ok := stringOrList(t)
		if !ok {
			v.add(loc, "config should be an array of strings or regular expressions using re2 syntax")
			return nil
		}
		p.refs, p.hasRefs = refs, true
		return p
	case *omap:
		if t.len() == 0 {
			v.add(loc, "config can't be blank")
			return nil
		}
		if bad := unknownKeys(t, []string{"refs", "kubernetes", "variables", "changes"}); len(bad) > 0 {
			v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
			return nil
		}
		if x, ok := t.get("refs"); ok {
			refs, isList := stringOrList(x)
			if !isList {
				v.add(loc, "refs should be an array of strings or regular expressions using re2 syntax")
				return nil
			}
			p.refs, p.hasRefs = refs, true
		} else if isOnly {
			// Policy.default deep-merges {refs: [branches, tags]} under only:.
			p.refs, p.hasRefs = []string{"branches", "tags"}, true
		}
		if x, ok := t.get("variables"); ok {
			l, isList := stringList(x)
			if !isList {
				v.add(loc, "variables should be an array of strings")
				return nil
			}
			for _, s := range l {
				if !expr.Valid(s) {
					v.add(loc, "variables invalid expression syntax")
					return nil
				}
			}
			p.variables = l
		}
		if x, ok := t.get("changes"); ok {
			l, isList := stringList(x)
			if !isList {
				v.add(loc, "changes should be an array of strings")
				return nil
			}
			p.changes, p.hasChanges = l, true
		}
		if x, ok := t.get("kubernetes"); ok {
			if x != "active" {
				v.add(loc, "kubernetes unknown value: %s", rubyToS(x))
				return nil
			}
			p.kubernetes = true
		}
		return p
	}
	v.add(loc, "has to be either an array of conditions or a hash")
	return nil
}

// environment validates environment: (string or hash).
func (v *validator) environment(loc string, val any, j *Job) (action string) {
	switch t := val.(type) {
	case string:
		j.Environment = t
		j.EnvironmentAction = "start"
		return "start"
	case *omap:
		if bad := unknownKeys(t, envKeys); len(bad) > 0 {
			v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
			return ""
		}
		n, _ := t.get("name")
		name, ok := n.(string)
		if !ok || name == "" {
			v.add(loc, "config missing required keys: name")
			return ""
		}
		j.Environment = name
		if x, ok := t.get("url"); ok {
			j.EnvironmentURL = rubyToS(x)
		}
		action = "start"
		if x, ok := t.get("action"); ok {
			s, _ := x.(string)
			if !slices.Contains([]string{"start", "prepare", "stop", "verify", "access"}, s) {
				v.add(loc, "action should be start, stop, prepare, verify, or access")
				return ""
			}
			action = s
		}
		j.EnvironmentAction = action
		if x, ok := t.get("on_stop"); ok {
			j.EnvironmentOnStop = rubyToS(x)
		}
		if x, ok := t.get("auto_stop_in"); ok {
			j.EnvironmentAutoStopIn = rubyToS(x)
		}
		if x, ok := t.get("deployment_tier"); ok {
			j.EnvironmentTier = rubyToS(x)
		}
		return action
	}
	v.add(loc, "config should be a hash or a string")
	return ""
}

// trigger validates trigger: of a bridge.
func (v *validator) trigger(loc string, val any) *Trigger {
	tr := &Trigger{ForwardYAMLVariables: true}
	switch t := val.(type) {
	case string:
		tr.Project = t
		return tr
	case *omap:
		if t.has("include") {
			if bad := unknownKeys(t, []string{"include", "strategy", "forward", "inputs"}); len(bad) > 0 {
				v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
				return nil
			}
			inc, _ := t.get("include")
			if !v.triggerInclude(loc, inc, tr) {
				return nil
			}
		} else {
			if bad := unknownKeys(t, []string{"project", "branch", "strategy", "forward", "inputs"}); len(bad) > 0 {
				v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
				return nil
			}
			p, _ := t.get("project")
			ps, ok := p.(string)
			if !ok || ps == "" {
				v.add(loc, "config missing required keys: project")
				return nil
			}
			tr.Project = ps
			if b, ok := t.get("branch"); ok {
				bs, isStr := b.(string)
				if !isStr {
					v.add(loc, "branch should be a string")
					return nil
				}
				tr.Branch = bs
			}
		}
		if s, ok := t.get("strategy"); ok {
			ss, _ := s.(string)
			if ss != "depend" && ss != "mirror" {
				v.add(loc, "strategy should be depend or mirror")
				return nil
			}
			tr.Strategy = ss
		}
		if f, ok := t.get("forward"); ok {
			fh, isHash := f.(*omap)
			if !isHash {
				v.add(loc+":forward", "config should be a hash")
				return nil
			}
			if bad := unknownKeys(fh, []string{"yaml_variables", "pipeline_variables"}); len(bad) > 0 {
				v.add(loc+":forward", "config contains unknown keys: %s", strings.Join(bad, ", "))
				return nil
			}
			if x, ok := fh.get("yaml_variables"); ok {
				b, isBool := x.(bool)
				if !isBool {
					v.add(loc+":forward", "yaml variables should be a boolean value")
					return nil
				}
				tr.ForwardYAMLVariables = b
			}
			if x, ok := fh.get("pipeline_variables"); ok {
				b, isBool := x.(bool)
				if !isBool {
					v.add(loc+":forward", "pipeline variables should be a boolean value")
					return nil
				}
				tr.ForwardPipelineVariables = b
			}
		}
		return tr
	}
	v.add(loc, "config should be a hash or a string")
	return nil
}

func (v *validator) triggerInclude(loc string, inc any, tr *Trigger) bool {
	var items []any
	switch t := inc.(type) {
	case string:
		tr.Include = []string{strings.TrimLeft(t, "/")}
		return true
	case []any:
		items = t
	case *omap:
		items = []any{t}
	default:
		v.add(loc+":include", "config should be an array or a string")
		return false
	}
	for _, it := range items {
		switch t := it.(type) {
		case string:
			tr.Include = append(tr.Include, strings.TrimLeft(t, "/"))
		case *omap:
			switch {
			case t.has("local"):
				l, _ := t.get("local")
				tr.Include = append(tr.Include, strings.TrimLeft(rubyToS(l), "/"))
			case t.has("artifact"):
				if !t.has("job") {
					v.add(loc+":include", "config must specify the job where to fetch the artifact from")
					return false
				}
				a, _ := t.get("artifact")
				j, _ := t.get("job")
				tr.IncludeArtifact, tr.IncludeJob = rubyToS(a), rubyToS(j)
			case t.has("project"), t.has("template"), t.has("remote"), t.has("component"):
				// Accepted as GitLab does; Gantry resolves only local and
				// artifact child configs, the rest fails at trigger time.
				tr.IncludeOther = append(tr.IncludeOther, toJSON(t))
			default:
				v.add(loc+":include", "config contains unknown keys: %s", strings.Join(t.keys, ", "))
				return false
			}
		default:
			v.add(loc+":include", "config should be an array or a string")
			return false
		}
	}
	return true
}

// itoa is strconv.Itoa, kept short for message building.
func itoa(i int) string { return strconv.Itoa(i) }

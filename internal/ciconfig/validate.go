package ciconfig

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
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
// "<location> <message>" lowercased in full, like Validator#messages
// (lib/gitlab/config/entry/validator.rb); docs/ci-yaml.md lists the forms.
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

// rejectUnknown reports keys an entry does not allow (AllowedKeysValidator)
// and tells whether there were any.
func (v *validator) rejectUnknown(loc string, bad []string) bool {
	if len(bad) == 0 {
		return false
	}
	v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
	return true
}

// humanize is ActiveSupport's String#humanize, used for attribute names in
// messages ("allow_failure" -> "allow failure").
func humanize(s string) string {
	s = strings.TrimSuffix(s, "_id")
	s = strings.TrimLeft(s, "_")
	return strings.ReplaceAll(s, "_", " ")
}

// unknownKeys lists the keys of h, in config order, that none of the
// allowed lists holds.
func unknownKeys(h *omap, allowed ...[]string) []string {
	var out []string
	for _, k := range h.keys {
		if !slices.ContainsFunc(allowed, func(a []string) bool { return slices.Contains(a, k) }) {
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

// nestedStrings accepts arrays of strings nested up to maxNestingLevel
// levels (as !reference produces them) and flattens them.
func nestedStrings(v any) ([]string, bool) {
	if _, ok := v.([]any); !ok || nestingDepth(v) > maxNestingLevel {
		return nil, false
	}
	return stringList(flatten(v))
}

// commands validates script-like keys: a string or nested arrays of strings
// up to 10 levels, flattened (Entry::Commands).
func (v *validator) commands(loc string, val any) []string {
	if s, ok := val.(string); ok {
		return []string{s}
	}
	if out, ok := nestedStrings(val); ok {
		return out
	}
	v.add(loc, "config should be a string or a nested array of strings up to %d levels deep", maxNestingLevel)
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

var varNameRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func validVarName(s string) bool { return varNameRe.MatchString(s) }

func isScalar(v any) bool {
	switch v.(type) {
	case string, int64, float64, bool:
		return true
	}
	return false
}

// itoa is strconv.Itoa, kept short for message building.
func itoa(i int) string { return strconv.Itoa(i) }

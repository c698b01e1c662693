package ciconfig

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// spec:inputs and $[[ ]] interpolation, as GitLab's
// Gitlab::Ci::Config::Interpolation::Interpolator does for every file (the
// main .gitlab-ci.yml, local, project, remote and component includes):
// header validation (lib/gitlab/ci/config/header/*.rb), then the inputs
// (interpolation/inputs.rb and inputs/*_input.rb), then the template
// (interpolation/template.rb, block.rb, access.rb, functions/*.rb).

// Limits of interpolation (Template::MAX_BLOCKS, Block::MAX_FUNCTIONS,
// Access::MAX_ACCESS_OBJECTS and MAX_ACCESS_BYTESIZE, Header::Input options).
const (
	maxInterpolationBlocks = 10000
	maxBlockFunctions      = 3
	maxAccessObjects       = 5
	maxAccessBytes         = 1024
	maxInputOptions        = 50
)

// inputTypes is Inputs::TYPES order, for "valid types: ..." messages.
var inputTypes = []string{"array", "boolean", "number", "string"}

// Keys a header may hold (Header::Root, Header::Spec, Header::Input).
var (
	headerKeys     = []string{"spec"}
	headerSpecKeys = []string{"inputs", "component", "include"}
	inputKeys      = []string{"default", "description", "options", "regex", "type", "rules"}
)

// blockRe is Template::BLOCK_REGEXP.
var blockRe = regexp.MustCompile(`\$\[\[\s*(\S.*?\S)\s*\]\]`)

// inputSpec is one input of spec:inputs.
type inputSpec struct {
	name       string
	typ        string
	hasDefault bool
	def        any
	options    []any
	hasOptions bool
	regex      string
	hasRegex   bool
}

// interpolateFile applies a file's header to its body: the inputs given
// (nil when none) are checked against spec:inputs and $[[ ]] blocks are
// replaced. vars are the variables expand_vars sees. Without a header and
// without inputs the body is returned untouched, as GitLab does.
func interpolateFile(body, header *omap, args *omap, vars map[string]string) (*omap, error) {
	if header == nil {
		if args.len() > 0 {
			return nil, interpolationError([]string{"unknown input arguments"})
		}
		return body, nil
	}
	specs, errs := parseSpecHeader(header)
	if len(errs) > 0 {
		return nil, interpolationError(errs)
	}
	values, errs := resolveInputs(specs, args)
	if len(errs) > 0 {
		return nil, interpolationError(errs)
	}
	t := &template{ctx: values, vars: vars, blocks: map[string]bool{}}
	out := t.walk(body)
	if t.err != "" {
		return nil, interpolationError([]string{t.err})
	}
	h, _ := out.(*omap)
	return h, nil
}

// interpolationError is Interpolator#error_message: at most three messages
// joined with commas.
func interpolationError(errs []string) error {
	if len(errs) > 3 {
		errs = errs[:3]
	}
	return &loadError{msg: strings.Join(errs, ", ")}
}

// parseSpecHeader validates the header document and returns its inputs in
// order. Messages are the entry validator's (lowercased locations).
func parseSpecHeader(header *omap) ([]inputSpec, []string) {
	var errs []string
	unknown := func(loc string, h *omap, allowed []string) {
		var bad []string
		for _, k := range h.keys {
			if !slices.Contains(allowed, k) {
				bad = append(bad, k)
			}
		}
		if len(bad) > 0 {
			errs = append(errs, fmt.Sprintf("%s config contains unknown keys: %s", loc, strings.Join(bad, ", ")))
		}
	}
	unknown("header", header, headerKeys)
	spec, _ := header.get("spec")
	specH, ok := spec.(*omap)
	if !ok {
		errs = append(errs, "header:spec config should be a hash")
		return nil, errs
	}
	unknown("header:spec", specH, headerSpecKeys)
	raw, _ := specH.get("inputs")
	if raw == nil {
		return nil, errs
	}
	inputsH, ok := raw.(*omap)
	if !ok {
		errs = append(errs, "header:spec:inputs config should be a hash")
		return nil, errs
	}
	var specs []inputSpec
	for _, name := range inputsH.keys {
		loc := "header:spec:inputs:" + strings.ToLower(name)
		s := inputSpec{name: name}
		switch v := inputsH.m[name].(type) {
		case nil:
		case *omap:
			unknown(loc, v, inputKeys)
			if t, ok := v.get("type"); ok {
				ts, isStr := t.(string)
				if !isStr {
					errs = append(errs, loc+" input type should be a string")
				}
				s.typ = ts
			}
			s.def, s.hasDefault = v.get("default")
			if o, ok := v.get("options"); ok {
				list, isList := o.([]any)
				switch {
				case !isList:
					errs = append(errs, loc+" options should be an array")
				case len(list) > maxInputOptions:
					errs = append(errs, fmt.Sprintf("%s config cannot define more than %d options", loc, maxInputOptions))
				}
				s.options, s.hasOptions = list, true
			}
			if r, ok := v.get("regex"); ok {
				rs, isStr := r.(string)
				if !isStr {
					errs = append(errs, loc+" regex should be a string")
				}
				s.regex, s.hasRegex = rs, true
			}
			if d, ok := v.get("description"); ok {
				if _, isStr := d.(string); !isStr && d != nil {
					errs = append(errs, loc+" description should be a string")
				}
			}
		default:
			errs = append(errs, loc+" config should be a hash")
		}
		specs = append(specs, s)
	}
	return specs, errs
}

// resolveInputs is Interpolation::Inputs: unknown arguments first, then every
// input in spec order (required, default and provided value checks).
func resolveInputs(specs []inputSpec, args *omap) (map[string]any, []string) {
	var errs []string
	var unknown []string
	if args != nil {
		for _, k := range args.keys {
			if !slices.ContainsFunc(specs, func(s inputSpec) bool { return s.name == k }) {
				unknown = append(unknown, k)
			}
		}
	}
	if len(unknown) > 0 {
		errs = append(errs, "unknown input arguments: "+strings.Join(unknown, ", "))
	}
	values := map[string]any{}
	for _, s := range specs {
		typ := s.typ
		if typ == "" {
			typ = "string"
		}
		if !slices.Contains(inputTypes, typ) {
			errs = append(errs, fmt.Sprintf("unknown input specification for `%s` (valid types: %s)", s.name, strings.Join(inputTypes, ", ")))
			continue
		}
		val, given := args.get(s.name)
		if given && val == nil {
			given = false
		}
		ierrs := s.validate(typ, val, given)
		errs = append(errs, ierrs...)
		if len(ierrs) == 0 {
			if given {
				values[s.name] = val
			} else {
				values[s.name] = s.def
			}
		}
	}
	return values, errs
}

// validate is BaseInput#validate!: the default is checked when there is
// one, then the provided value.
func (s inputSpec) validate(typ string, val any, given bool) []string {
	var errs []string
	fail := func(msg string) { errs = append(errs, fmt.Sprintf("`%s` input: %s", s.name, msg)) }
	if !s.hasDefault && !given {
		fail("required value has not been provided")
		return errs
	}
	run := func(v any, isDefault bool) {
		which := "provided"
		if isDefault {
			which = "default"
		}
		// validate_type
		switch typ {
		case "string":
			if _, ok := v.(string); !ok {
				fail(which + " value is not a string")
			}
		case "number":
			if !isNumber(v) {
				fail(which + " value is not a number")
			}
		case "boolean":
			if _, ok := v.(bool); !ok {
				fail(which + " value is not a boolean")
			}
		case "array":
			if _, ok := v.([]any); !ok {
				fail(which + " value is not an array")
			}
		}
		// validate_options
		if s.hasOptions && s.options != nil {
			switch typ {
			case "string", "number":
				if v != nil && !slices.ContainsFunc(s.options, func(o any) bool { return sameValue(o, v) }) {
					if typ == "string" {
						fail(fmt.Sprintf("`%s` cannot be used because it is not in the list of allowed options", rubyToS(v)))
					} else {
						fail(fmt.Sprintf("`%s` cannot be used because it is not in the list of the allowed options", rubyToS(v)))
					}
				}
			default:
				fail("Options can only be used with string and number inputs")
			}
		}
		// validate_regex
		if s.hasRegex {
			if typ != "string" {
				fail("RegEx validation can only be used with string inputs")
				return
			}
			str, ok := v.(string)
			if !ok {
				return
			}
			re, err := regexp.Compile(s.regex)
			if err != nil {
				fail("invalid regular expression")
				return
			}
			if !re.MatchString(str) {
				fail(which + " value does not match required RegEx pattern")
			}
		}
	}
	if s.hasDefault {
		run(s.def, true)
	}
	if given {
		run(val, false)
	}
	return errs
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, float64:
		return true
	}
	return false
}

// sameValue is Ruby's == for input values (1 == 1.0 is true).
func sameValue(a, b any) bool {
	if isNumber(a) && isNumber(b) {
		return toFloat(a) == toFloat(b)
	}
	return a == b
}

func toFloat(v any) float64 {
	switch t := v.(type) {
	case int64:
		return float64(t)
	case float64:
		return t
	}
	return math.NaN()
}

// template replaces $[[ ]] blocks in every string of a value tree, keys
// included (Interpolation::Config#replace!). The first failing block stops
// the walk, as Template#interpolate! does.
type template struct {
	ctx    map[string]any
	vars   map[string]string
	blocks map[string]bool
	err    string
}

func (t *template) walk(v any) any {
	if t.err != "" {
		return v
	}
	switch x := v.(type) {
	case string:
		return t.node(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = t.walk(e)
		}
		return out
	case *omap:
		out := newOmap()
		for _, k := range x.keys {
			nk := k
			if strings.Contains(k, "$[[") {
				nk = rubyToS(t.node(k))
			}
			out.set(nk, t.walk(x.m[k]))
		}
		if x.nonString != nil {
			out.nonString = x.nonString
		}
		return out
	}
	return v
}

// node interpolates one string: a string that is exactly one block takes the
// block's value with its type; otherwise every block is replaced by its
// to_s.
func (t *template) node(s string) any {
	if !strings.Contains(s, "$[[") {
		return s
	}
	matches := blockRe.FindAllStringSubmatch(s, -1)
	if len(matches) == 0 {
		return s
	}
	values := make([]any, len(matches))
	for i, m := range matches {
		t.blocks[m[0]] = true
		if len(t.blocks) > maxInterpolationBlocks {
			t.err = "too many interpolation blocks"
			return s
		}
		v, err := t.block(m[1])
		if err != "" {
			t.err = err
			return s
		}
		values[i] = v
	}
	if len(matches) == 1 && len(matches[0][0]) == len(s) {
		return values[0]
	}
	out := s
	for i, m := range matches {
		out = strings.ReplaceAll(out, m[0], interpolatedString(values[i]))
	}
	return out
}

// interpolatedString is Ruby's #to_s of an input value inside a string.
func interpolatedString(v any) string {
	switch v.(type) {
	case []any, *omap:
		return rubyInspect(v)
	}
	return rubyToS(v)
}

// block evaluates `access | fn | fn` (Interpolation::Block).
func (t *template) block(data string) (any, string) {
	parts := strings.Split(data, "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	access, fns := parts[0], parts[1:]
	objects := strings.SplitN(access, ".", maxAccessObjects)
	if len(objects) <= 1 {
		return nil, "invalid interpolation access pattern"
	}
	if len(access) > maxAccessBytes {
		return nil, "maximum interpolation expression size exceeded"
	}
	if objects[0] != "inputs" {
		return nil, fmt.Sprintf("unknown interpolation key: `%s`", objects[0])
	}
	var cur any = t.ctx
	for _, o := range objects[1:] {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Sprintf("unknown interpolation key: `%s`", o)
		}
		v, ok := m[o]
		if !ok {
			return nil, fmt.Sprintf("unknown interpolation key: `%s`", o)
		}
		cur = v
	}
	if len(fns) > maxBlockFunctions {
		return nil, "too many functions in interpolation block"
	}
	for _, f := range fns {
		if !truncateRe.MatchString(f) && f != "expand_vars" {
			return nil, fmt.Sprintf("no function matching `%s`: check that the function name, arguments, and types are correct", f)
		}
	}
	for _, f := range fns {
		var err string
		if cur, err = t.apply(f, cur); err != "" {
			return nil, err
		}
	}
	return cur, ""
}

// truncateRe is Functions::Truncate.function_expression_pattern.
var truncateRe = regexp.MustCompile(`^truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)?$`)

// apply runs one interpolation function (interpolation/functions/*.rb).
func (t *template) apply(f string, v any) (any, string) {
	if m := truncateRe.FindStringSubmatch(f); m != nil {
		s, ok := v.(string)
		if !ok {
			return nil, "error in `truncate` function: invalid input type: truncate can only be used with string inputs"
		}
		off, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		return rubySlice(s, off, n), ""
	}
	s, ok := v.(string)
	if !ok {
		return nil, "error in `expand_vars` function: invalid input type: expand_vars can only be used with string inputs"
	}
	return expandExisting(s, t.vars), ""
}

// rubySlice is String#[offset, length] by characters, nil (→ "") past the end.
func rubySlice(s string, off, n int) string {
	count := utf8.RuneCountInString(s)
	if off > count {
		return ""
	}
	r := []rune(s)
	end := min(off+n, count)
	return string(r[off:end])
}

// ExpandExisting is ExpandVariables.expand_existing, for the engine.
func ExpandExisting(s string, vars map[string]string) string { return expandExisting(s, vars) }

// expandExisting is ExpandVariables.expand_existing: $VAR, ${VAR} and %VAR%
// are replaced when the variable exists and left as written otherwise.
func expandExisting(s string, vars map[string]string) string {
	return varRefRe.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}%")
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

var varRefRe = regexp.MustCompile(`\$([a-zA-Z_][a-zA-Z0-9_]*)|\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}|%([a-zA-Z_][a-zA-Z0-9_]*)%`)

// NormalizeInputs turns decoded JSON values (float64 numbers, []any,
// map[string]any) into the value kinds the compiler uses, so that pipeline
// inputs from the API compare like YAML ones: integral numbers become
// int64, as Ruby's JSON parser reads them.
func NormalizeInputs(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = normalizeInput(v)
	}
	return out
}

func normalizeInput(v any) any {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t)
		}
		return t
	case int:
		return int64(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeInput(e)
		}
		return out
	case map[string]any:
		o := newOmap()
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			o.set(k, normalizeInput(t[k]))
		}
		return o
	}
	return v
}

// ParseInputValue reads a `git push -o ci.input=name=value` value as a YAML
// scalar or flow sequence (42 is a number, true a boolean, [a, b] an array),
// so that typed inputs can be given on the command line.
func ParseInputValue(s string) any {
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		if docs, err := parseDocuments([]byte(s)); err == nil && len(docs) == 1 {
			if v, err := newConverter().convert(docs[0], 0); err == nil {
				if list, ok := v.([]any); ok {
					return list
				}
			}
		}
		return s
	}
	v := scanPlain(s)
	if v == nil {
		return s
	}
	return v
}

// inputsOmap orders pipeline inputs by name for deterministic messages.
func inputsOmap(in map[string]any) *omap {
	if len(in) == 0 {
		return nil
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o := newOmap()
	for _, k := range keys {
		o.set(k, normalizeInput(in[k]))
	}
	return o
}

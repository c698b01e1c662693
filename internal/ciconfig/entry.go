package ciconfig

import (
	"slices"
	"strings"
)

// This file is the keyword machinery, in the spirit of GitLab's
// Gitlab::Config::Entry::Node and Gitlab::Ci::Config::Entry::* classes
// (lib/gitlab/config/entry/node.rb, lib/gitlab/ci/config/entry/*.rb): every
// .gitlab-ci.yml keyword is one entry of a table that says where the keyword
// is allowed, how its value is decoded and which error GitLab gives. The
// tables are entry_root.go (top level, default:, workflow:), entry_job.go
// (jobs), entry_rules.go (rules:, only:/except:) and one file per nested
// entry. docs/ci-yaml.md describes the design and how to add a keyword.

// scope is where a keyword may appear: the parent entries of GitLab's
// classes. A keyword allowed in several places is still one entry.
type scope uint32

const (
	inRoot           scope = 1 << iota // top level (Entry::Root)
	inDefault                          // default: (Entry::Default)
	inBuild                            // a job with script: or run: (Entry::Job)
	inBridge                           // a job with trigger: (Entry::Bridge)
	inJobRule                          // an item of a job's rules: (Entry::Rules::Rule)
	inWorkflow                         // workflow: (Entry::Workflow)
	inWorkflowRule                     // an item of workflow:rules (Entry::Workflow::Rule)
	inImage                            // image: (Entry::Image)
	inService                          // an item of services: (Entry::Service)
	inTriggerProject                   // trigger: for another project (Entry::Trigger, CrossProjectTrigger)
	inTriggerInclude                   // trigger: for a child pipeline (Entry::Trigger, SameProjectTrigger)

	// inJob is every job kind (Entry::Processable).
	inJob = inBuild | inBridge
	// inRules is every kind of rules: item.
	inRules = inJobRule | inWorkflowRule
	// anywhere is the scope of a nested entry's keys: wherever that entry is.
	anywhere scope = 0
)

// entry is one keyword of a hash entry. T is what the enclosing entry
// decodes into.
type entry[T any] struct {
	key string
	// in is where the key is allowed; anywhere (0) for nested entries whose
	// keys are allowed wherever the entry itself is.
	in scope
	// nulls: the decoder also sees `key: null`; otherwise null counts as
	// absent (GitLab's entries differ here, each table says which).
	nulls bool
	// absent: the decoder also runs when the key is missing, for defaults
	// and required keys (field.present is false then).
	absent bool
	// decode reads the value into t and reports GitLab's errors; false
	// means the value was rejected. Nil: the key is accepted as GitLab
	// does, and Gantry does not use it.
	decode func(t T, f field) bool
	// inherit copies the value that default: decoded into a job lacking the
	// key (job entries allowed in default: only; Entry::Default inherits).
	inherit func(job, def *Job)
}

// entries is a keyword table; its order is the order GitLab validates the
// keys in (which decides the order of the error messages).
type entries[T any] []entry[T]

func (e *entry[T]) allowedIn(s scope) bool { return e.in == anywhere || e.in&s != 0 }

// lookup returns the entry of key allowed in s, or nil.
func (es entries[T]) lookup(key string, s scope) *entry[T] {
	for i := range es {
		if es[i].key == key && es[i].allowedIn(s) {
			return &es[i]
		}
	}
	return nil
}

// unknown lists the keys of h, in config order, that are not allowed in s.
func (es entries[T]) unknown(h *omap, s scope) []string {
	var out []string
	for _, k := range h.keys {
		if es.lookup(k, s) == nil {
			out = append(out, k)
		}
	}
	return out
}

// decode runs the decoders of the keys allowed in s, in table order. With
// stop, the first rejected value ends decoding and decode returns false
// (entries that stop at their first error); otherwise all keys are decoded
// and every error is reported.
func (es entries[T]) decode(t T, v *validator, loc string, h *omap, s scope, stop bool) bool {
	for i := range es {
		e := &es[i]
		if e.decode == nil || !e.allowedIn(s) {
			continue
		}
		x, ok := h.get(e.key)
		present := ok && (x != nil || e.nulls)
		if !present && !e.absent {
			continue
		}
		if !e.decode(t, field{v: v, loc: loc, key: e.key, val: x, present: present, parent: h}) && stop {
			return false
		}
	}
	return true
}

// decodeKeys runs the decoders in config order instead of table order,
// skipping null values: default: is validated key by key as written.
func (es entries[T]) decodeKeys(t T, v *validator, loc string, h *omap, s scope) {
	for _, k := range h.keys {
		e := es.lookup(k, s)
		if x := h.m[k]; x != nil && e != nil && e.decode != nil {
			e.decode(t, field{v: v, loc: loc, key: k, val: x, present: true, parent: h})
		}
	}
}

// field is one keyword's value being decoded, with where to report errors.
type field struct {
	v *validator
	// loc is the location of the enclosing entry ("jobs:rspec"), "" at the
	// top level.
	loc     string
	key     string
	val     any
	present bool
	// parent is the enclosing hash, for keywords read together (stages and
	// its old name types).
	parent *omap
}

// path is the location of the keyword's own entry ("jobs:rspec:tags").
func (f field) path() string {
	if f.loc == "" {
		return f.key
	}
	return f.loc + ":" + f.key
}

// sub is a key of this field's hash value.
func (f field) sub(key string, val any) field {
	return field{v: f.v, loc: f.path(), key: key, val: val, present: true}
}

// attrError reports a value the enclosing entry validates as an attribute
// (`validates :key, ...`): "<loc> <key humanized> <msg>".
func (f field) attrError(format string, a ...any) {
	f.v.add(f.loc, "%s "+format, append([]any{humanize(f.key)}, a...)...)
}

// nodeError reports a value that is an entry of its own: "<loc>:<key>
// config <msg>".
func (f field) nodeError(format string, a ...any) {
	f.v.add(f.path(), "config "+format, a...)
}

// text is the value as Ruby's to_s, for keys taken as they are.
func (f field) text() string { return rubyToS(f.val) }

// kind is a typed decoder with GitLab's message for a wrong value.
type kind[T any] struct {
	parse func(any) (T, bool)
	want  string
}

var (
	aString     = kind[string]{func(x any) (string, bool) { s, ok := x.(string); return s, ok }, "should be a string"}
	aBoolean    = kind[bool]{func(x any) (bool, bool) { b, ok := x.(bool); return b, ok }, "should be a boolean value"}
	stringArray = kind[[]string]{stringList, "should be an array of strings"}
	intArray    = kind[[]int]{intList, "should be an array of integers or an integer"}
)

// oneOf accepts one of the strings vals.
func oneOf(vals ...string) kind[string] {
	return kind[string]{
		func(x any) (string, bool) { s, ok := x.(string); return s, ok && slices.Contains(vals, s) },
		"should be one of: " + strings.Join(vals, ", "),
	}
}

// oneOfMsg accepts one of the strings vals, with GitLab's own sentence.
func oneOfMsg(msg string, vals ...string) kind[string] {
	k := oneOf(vals...)
	k.want = msg
	return k
}

// attr decodes an attribute-style value into dst (attrError on failure).
func attr[T any](f field, k kind[T], dst *T) bool { return decodeAs(f, k, dst, f.attrError) }

// node decodes an entry-style value into dst (nodeError on failure).
func node[T any](f field, k kind[T], dst *T) bool { return decodeAs(f, k, dst, f.nodeError) }

func decodeAs[T any](f field, k kind[T], dst *T, report func(string, ...any)) bool {
	t, ok := k.parse(f.val)
	if !ok {
		report("%s", k.want)
		return false
	}
	*dst = t
	return true
}

// attrOf, nodeOf and textOf make table decoders that store into the
// field sel picks of the decoded value.
func attrOf[T, V any](k kind[V], sel func(T) *V) func(T, field) bool {
	return func(t T, f field) bool { return attr(f, k, sel(t)) }
}

func nodeOf[T, V any](k kind[V], sel func(T) *V) func(T, field) bool {
	return func(t T, f field) bool { return node(f, k, sel(t)) }
}

func textOf[T any](sel func(T) *string) func(T, field) bool {
	return func(t T, f field) bool { *sel(t) = f.text(); return true }
}

// optBool decodes an attribute-style boolean that may be left unset.
func optBool(f field, dst **bool) bool {
	var b bool
	if !attr(f, aBoolean, &b) {
		return false
	}
	*dst = &b
	return true
}

// startIn decodes start_in of a job or a rule: allowed and required with
// when: delayed only, a duration of at most a week (Entry::Job,
// Entry::Rules::Rule). misplaced and missing are the messages (at the
// enclosing entry) for start_in without when: delayed and the reverse.
func startIn(f field, delayed bool, dst *string, misplaced, missing string) bool {
	switch {
	case f.present && !delayed:
		f.v.add(f.loc, "%s", misplaced)
		return false
	case !f.present:
		if delayed {
			f.v.add(f.loc, "%s", missing)
		}
		return !delayed
	}
	secs, ok := durationValue(f.val)
	switch {
	case !ok:
		f.attrError("should be a duration")
	case secs > limitWeek:
		f.attrError("should not exceed the limit")
	default:
		*dst = f.text()
		return true
	}
	return false
}

// hashOf checks that val is a hash whose keys es allows in s, reporting
// "config should be a hash" or the unknown keys at loc. h is nil only when
// val is not a hash; ok is false when either is wrong.
func hashOf[T any](v *validator, loc string, val any, es entries[T], s scope) (h *omap, ok bool) {
	h, ok = val.(*omap)
	if !ok {
		v.add(loc, "config should be a hash")
		return nil, false
	}
	return h, !v.rejectUnknown(loc, es.unknown(h, s))
}

// requiredString reads a key an entry requires as a non-empty string
// ("config missing required keys: <key>" at loc).
func requiredString(v *validator, loc string, h *omap, key string) (string, bool) {
	x, _ := h.get(key)
	s, ok := x.(string)
	if !ok || s == "" {
		v.add(loc, "config missing required keys: %s", key)
		return "", false
	}
	return s, true
}

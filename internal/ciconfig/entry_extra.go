package ciconfig

import (
	"strings"
	"time"
)

// Job keywords that Gantry validates with GitLab's messages but carries out
// only in part (docs/ci-yaml.md, "Keyword reference"): hooks, id_tokens,
// manual_confirmation, pages, publish, release and run.

// hooksEntries are the keys of hooks: (Entry::Hooks, ALLOWED_HOOKS).
var hooksEntries = entries[*Hooks]{
	{key: "pre_get_sources_script", decode: func(h *Hooks, f field) bool {
		h.PreGetSourcesScript = f.v.commands(f.path(), f.val)
		return h.PreGetSourcesScript != nil
	}},
}

// hooks decodes hooks: of a job or default:.
func decodeHooks(f field, dst **Hooks) bool {
	h, ok := hashOf(f.v, f.path(), f.val, hooksEntries, anywhere)
	if !ok {
		return false
	}
	out := &Hooks{}
	if !hooksEntries.decode(out, f.v, f.path(), h, anywhere, true) {
		return false
	}
	*dst = out
	return true
}

// decodeIDTokens decodes id_tokens: (a ComposableHash of Entry::IdToken):
// each token needs aud, a string or an array of strings. Gantry issues no
// ID tokens; the names are kept for the warning.
func decodeIDTokens(f field, dst *[]string) bool {
	h, isHash := f.val.(*omap)
	if !isHash {
		f.nodeError("should be a hash")
		return false
	}
	var names []string
	ok := true
	for _, name := range h.keys {
		loc := f.path() + ":" + name
		th, _ := h.m[name].(*omap)
		if th == nil || !th.has("aud") {
			f.v.add(loc, "config missing required keys: aud")
			ok = false
			continue
		}
		if f.v.rejectUnknown(loc, unknownKeys(th, []string{"aud"})) {
			ok = false
			continue
		}
		if aud, _ := th.get("aud"); !isStringOrList(aud) {
			f.v.add(loc, "aud should be an array of strings or a string")
			ok = false
			continue
		}
		names = append(names, name)
	}
	if ok {
		*dst = names
	}
	return ok
}

func isStringOrList(x any) bool {
	_, ok := stringOrList(x)
	return ok
}

// pagesEntries are the keys of the hash form of pages: (Entry::Pages).
var pagesEntries = entries[*Job]{
	{key: "path_prefix", decode: func(_ *Job, f field) bool {
		if _, isStr := f.val.(string); !isStr {
			f.attrError("should be a string")
			return false
		}
		return true
	}},
	{key: "expire_in", decode: func(_ *Job, f field) bool {
		if _, dur := durationValue(f.val); f.text() != "never" && !dur {
			f.attrError("should be a duration")
			return false
		}
		return true
	}},
	{key: "publish", decode: attrOf(aString, func(j *Job) *string { return &j.PagesPublish })},
}

// pages is pages: of a job (a boolean or a hash); with publish: it makes
// the job a Pages job.
func (d *jobDecoder) pages(f field) bool {
	switch t := f.val.(type) {
	case bool:
		d.j.Pages = t
		return true
	case *omap:
		if f.v.rejectUnknown(f.path(), pagesEntries.unknown(t, anywhere)) {
			return false
		}
		d.j.Pages = true
		return pagesEntries.decode(d.j, f.v, f.path(), t, anywhere, true)
	}
	f.nodeError("should be a hash or a boolean value")
	return false
}

// publish is the job-level publish: of a Pages job (Entry::Job: a job named
// pages, unless pages: false, or one with pages:).
func (d *jobDecoder) publish(f field) bool {
	pv, hasPages := f.parent.get("pages")
	pagesJob := (hasPages && pv != nil && pv != false) || (d.s.name == "pages" && pv != false)
	if !pagesJob {
		f.attrError("can only be used within a `pages` job")
		return false
	}
	return node(f, aString, &d.j.PagesPublish)
}

// releaseEntries are the keys of release: (Entry::Release), in GitLab's
// validation order.
var releaseEntries = entries[*Release]{
	{key: "tag_name", nulls: true, absent: true, decode: func(r *Release, f field) bool {
		return requiredText(f, &r.TagName)
	}},
	{key: "tag_message", decode: attrOf(aString, func(r *Release) *string { return &r.TagMessage })},
	{key: "description", nulls: true, absent: true, decode: func(r *Release, f field) bool {
		return requiredText(f, &r.Description)
	}},
	{key: "name", decode: textOf(func(r *Release) *string { return &r.Name })},
	{key: "ref", decode: textOf(func(r *Release) *string { return &r.Ref })},
	{key: "milestones", decode: func(r *Release, f field) bool {
		l, ok := stringOrList(f.val)
		if !ok {
			f.attrError("should be an array of strings or a string")
			return false
		}
		r.Milestones = l
		return true
	}},
	{key: "released_at", decode: func(r *Release, f field) bool {
		s, _ := f.val.(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			f.attrError("must be a valid datetime")
			return false
		}
		r.ReleasedAt = s
		return true
	}},
	{key: "assets"},
}

// requiredText is `validates :key, type: String, presence: true`.
func requiredText(f field, dst *string) bool {
	s, isStr := f.val.(string)
	switch {
	case !f.present || f.val == nil || (isStr && strings.TrimSpace(s) == ""):
		f.attrError("can't be blank")
	case !isStr:
		f.attrError("should be a string")
	default:
		*dst = s
		return true
	}
	return false
}

// release decodes release: of a job.
func (d *jobDecoder) release(f field) bool {
	h, ok := hashOf(f.v, f.path(), f.val, releaseEntries, anywhere)
	if !ok {
		return false
	}
	r := &Release{}
	if !releaseEntries.decode(r, f.v, f.path(), h, anywhere, true) {
		return false
	}
	d.j.Release = r
	return true
}

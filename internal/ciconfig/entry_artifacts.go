package ciconfig

import (
	"slices"
	"strings"
)

// artifactsEntries are the keys of artifacts: (Entry::Artifacts,
// lib/gitlab/ci/config/entry/artifacts.rb). Every error is reported.
var artifactsEntries = entries[*Artifacts]{
	{key: "name", nulls: true, decode: attrOf(aString, func(a *Artifacts) *string { return &a.Name })},
	{key: "untracked", nulls: true, decode: attrOf(aBoolean, func(a *Artifacts) *bool { return &a.Untracked })},
	{key: "paths", nulls: true, decode: attrOf(stringArray, func(a *Artifacts) *[]string { return &a.Paths })},
	{key: "exclude", nulls: true, decode: attrOf(stringArray, func(a *Artifacts) *[]string { return &a.Exclude })},
	{key: "when", nulls: true, decode: attrOf(artifactsWhen, func(a *Artifacts) *string { return &a.When })},
	{key: "expire_in", nulls: true, decode: func(a *Artifacts, f field) bool {
		if _, dur := durationValue(f.val); f.text() != "never" && !dur {
			f.attrError("should be a duration")
			return false
		}
		a.ExpireIn = f.text()
		return true
	}},
	{key: "expose_as", nulls: true, decode: attrOf(aString, func(a *Artifacts) *string { return &a.ExposeAs })},
	{key: "reports", nulls: true, decode: (*Artifacts).decodeReports},
	{key: "public", nulls: true, decode: func(a *Artifacts, f field) bool { return optBool(f, &a.Public) }},
	{key: "access", nulls: true, decode: attrOf(artifactsAccess, func(a *Artifacts) *string { return &a.Access })},
}

var (
	artifactsWhen   = oneOf("on_success", "on_failure", "always")
	artifactsAccess = oneOf("none", "developer", "all")
)

// artifacts validates artifacts:.
func (v *validator) artifacts(loc string, val any) *Artifacts {
	h, ok := hashOf(v, loc, val, artifactsEntries, anywhere)
	if !ok {
		return nil
	}
	a := &Artifacts{}
	artifactsEntries.decode(a, v, loc, h, anywhere, false)
	return a
}

// decodeReports reads artifacts:reports (Entry::Reports): paths per report
// type, and coverage_report with its format.
func (a *Artifacts) decodeReports(f field) bool {
	rh, isHash := f.val.(*omap)
	if !isHash {
		f.nodeError("should be a hash")
		return false
	}
	a.Reports = map[string][]string{}
	for _, k := range rh.keys {
		rv := rh.m[k]
		if k == "coverage_report" {
			ch, isH := rv.(*omap)
			if !isH {
				f.v.add(f.path()+":coverage_report", "config should be a hash")
				continue
			}
			p, _ := ch.get("path")
			fm, _ := ch.get("coverage_format")
			ps, _ := p.(string)
			fs, _ := fm.(string)
			if ps == "" || (fs != "cobertura" && fs != "jacoco") {
				f.v.add(f.path()+":coverage_report", "config missing required keys: coverage_format, path")
				continue
			}
			a.Reports[k] = []string{ps}
			a.CoverageFormat = fs
			continue
		}
		l, isList := stringOrList(rv)
		if !isList {
			f.v.add(f.path(), "%s should be an array of strings or a string", humanize(k))
			continue
		}
		a.Reports[k] = l
	}
	return true
}

// cacheEntries are the keys of a cache: item (Entry::Cache,
// lib/gitlab/ci/config/entry/cache.rb). Every error is reported.
var cacheEntries = entries[*Cache]{
	{key: "key", nulls: true, decode: (*Cache).decodeKey},
	{key: "paths", nulls: true, decode: nodeOf(stringArray, func(c *Cache) *[]string { return &c.Paths })},
	{key: "untracked", nulls: true, decode: nodeOf(aBoolean, func(c *Cache) *bool { return &c.Untracked })},
	// policy and when are attributes of Entry::Cache, fallback_keys both an
	// attribute (its length) and an entry (its type).
	{key: "policy", nulls: true, decode: attrOf(cachePolicy, func(c *Cache) *string { return &c.Policy })},
	{key: "when", nulls: true, decode: attrOf(artifactsWhen, func(c *Cache) *string { return &c.When })},
	{key: "fallback_keys", nulls: true, decode: func(c *Cache, f field) bool {
		if l, ok := f.val.([]any); ok && len(l) > 5 {
			f.attrError("has to many entries (maximum 5)") // sic, GitLab's text
			return false
		}
		return node(f, stringArray, &c.FallbackKeys)
	}},
	{key: "unprotect", nulls: true, decode: nodeOf(aBoolean, func(c *Cache) *bool { return &c.Unprotect })},
}

// cachePolicy is cache:policy; a variable ($POLICY) is expanded later.
var cachePolicy = kind[string]{
	func(x any) (string, bool) {
		s, _ := x.(string)
		return s, slices.Contains([]string{"pull-push", "push", "pull"}, s) || strings.Contains(s, "$")
	},
	"should be a variable or one of: pull-push, push, pull",
}

// cache validates cache: (a hash or an array of at most four).
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
		if v.rejectUnknown(loc, cacheEntries.unknown(h, anywhere)) {
			continue
		}
		c := Cache{Key: "default", Policy: "pull-push", When: "on_success"}
		cacheEntries.decode(&c, v, loc, h, anywhere, false)
		out = append(out, c)
	}
	return out
}

// decodeKey reads cache:key: a name, or files (and a prefix) to derive it
// from (Entry::Cache::Key).
func (c *Cache) decodeKey(f field) bool {
	switch kt := f.val.(type) {
	case string, int64, float64:
		c.Key = f.text()
		if strings.Contains(c.Key, "/") || strings.Trim(c.Key, ".") == "" {
			f.nodeError("cannot contain the \"/\" character")
			return false
		}
	case *omap:
		files, fok := kt.get("files")
		fl, isList := stringList(files)
		switch {
		case !fok:
			f.nodeError("missing required keys: files")
		case !isList:
			f.v.add(f.path()+":files", "config should be an array of strings")
		case len(fl) == 0:
			f.v.add(f.path()+":files", "config requires at least 1 item")
		case len(fl) > 2:
			f.v.add(f.path()+":files", "config has too many items (maximum is 2)")
		default:
			// The runner payload gets the computed key; without file
			// hashes here, keep a stable textual form.
			prefix, _ := kt.get("prefix")
			c.Key = strings.TrimPrefix(rubyToS(prefix)+"-", "-") + strings.Join(fl, ",")
			c.KeyFiles = fl
			c.KeyPrefix = rubyToS(prefix)
			return true
		}
		return false
	default:
		f.v.add(f.path(), "should be a hash, a string or a symbol")
		return false
	}
	return true
}

package ciconfig

import (
	"encoding/json"
	"errors"
	"io/fs"
	"regexp"
	"strings"
)

// maxIncludes is GitLab's default limit; nested duplicates count.
const maxIncludes = 150

// includeSubkeys is the order of External::Mapper::Matcher::FILE_CLASSES.
var includeSubkeys = []string{"local", "project", "remote", "template", "artifact", "component"}

// includer expands include: recursively and deep-merges the files under the
// including one, as External::Processor does.
type includer struct {
	src   Source
	count int
	// files records the expanded locations, for Lint.
	files []string
}

// expand returns root with its includes merged in: included files first, in
// order (a later file wins), then root itself on top.
func (in *includer) expand(root *omap, depth int) (*omap, error) {
	incl, ok := root.get("include")
	if !ok {
		return root, nil
	}
	locs, err := normalizeIncludes(incl)
	if err != nil {
		return nil, err
	}
	merged := newOmap()
	for _, loc := range locs {
		m, err := in.load(loc, depth)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		merged = deepMerge(merged, m)
	}
	own := cloneOmap(root)
	own.del("include")
	return deepMerge(merged, own), nil
}

// normalizeIncludes turns every accepted include form into a list of hashes.
func normalizeIncludes(v any) ([]*omap, error) {
	var items []any
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []any:
		items = t
	default:
		items = []any{t}
	}
	var out []*omap
	for _, it := range items {
		switch t := it.(type) {
		case string:
			h := newOmap()
			if strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://") {
				h.set("remote", t)
			} else {
				h.set("local", t)
			}
			out = append(out, h)
		case *omap:
			out = append(out, t)
		case []any:
			// A nested array (from !reference) is flattened like GitLab does.
			sub, err := normalizeIncludes(t)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		default:
			return nil, newLoadError("Included file `%s` needs to be a string", rubyToS(it))
		}
	}
	return out, nil
}

// load reads and expands one include location; nil means skipped by rules.
func (in *includer) load(loc *omap, depth int) (*omap, error) {
	var kinds []string
	for _, k := range includeSubkeys {
		if loc.has(k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, newLoadError("`%s` does not have a valid subkey for include. Valid subkeys are: `%s`",
			toJSON(loc), strings.Join(includeSubkeys, "`, `"))
	}
	if len(kinds) > 1 {
		return nil, newLoadError("Each include must use only one of: `%s`", strings.Join(includeSubkeys, "`, `"))
	}
	if rules, ok := loc.get("rules"); ok {
		match, err := includeRulesMatch(rules, in.src)
		if err != nil {
			return nil, err
		}
		if !match {
			return nil, nil
		}
	}
	in.count++
	if in.count > maxIncludes {
		return nil, newLoadError("Maximum of %d nested includes are allowed!", maxIncludes)
	}
	raw, _ := loc.get(kinds[0])
	location, ok := raw.(string)
	if !ok {
		return nil, newLoadError("Included file `%s` needs to be a string", rubyInspect(raw))
	}
	switch kinds[0] {
	case "local":
	case "remote":
		return nil, newLoadError("Remote file `%s` could not be fetched because of a socket error!", location)
	case "template":
		return nil, newLoadError("Template file `%s` is not a valid location!", location)
	case "project":
		return nil, newLoadError("Project `%s` not found or access denied! Make sure any includes in the pipeline configuration are correctly defined.", location)
	case "component":
		return nil, newLoadError("Component '%s' - content not found", location)
	case "artifact":
		return nil, newLoadError("Only `local`, `project`, `remote`, `template` and `component` includes are allowed here; `artifact` is only supported in trigger:include")
	}
	path := strings.TrimLeft(location, "/")
	if !strings.HasSuffix(path, ".yml") && !strings.HasSuffix(path, ".yaml") {
		return nil, newLoadError("Included file `%s` does not have YAML extension!", path)
	}
	if in.src.ReadFile == nil {
		return nil, newLoadError("Local file `%s` does not exist!", path)
	}
	content, err := in.src.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, newLoadError("Local file `%s` does not exist!", path)
		}
		return nil, newLoadError("Local file `%s` does not exist!", path)
	}
	if len(strings.TrimSpace(string(content))) == 0 {
		return nil, newLoadError("Local file `%s` is empty!", path)
	}
	in.files = append(in.files, path)
	docs, err := parseDocuments(content)
	if err != nil {
		return nil, newLoadError("`%s`: %s", path, err.Error())
	}
	if len(docs) == 0 || len(docs) > maxDocuments {
		return nil, newLoadError("Included file `%s` does not have valid YAML syntax!", path)
	}
	var vals []any
	for _, d := range docs {
		c := newConverter()
		v, err := c.convert(d, 0)
		if err != nil {
			return nil, newLoadError("`%s`: %s", path, err.Error())
		}
		vals = append(vals, v)
	}
	var header *omap
	if len(vals) == 2 {
		h, ok := vals[0].(*omap)
		if !ok || !h.has("spec") {
			return nil, newLoadError("Included file `%s` does not have valid YAML syntax!", path)
		}
		header, vals = h, vals[1:]
	}
	body, ok := vals[0].(*omap)
	if !ok {
		return nil, newLoadError("Included file `%s` does not have valid YAML syntax!", path)
	}
	inputs, _ := loc.get("inputs")
	inputMap, _ := inputs.(*omap)
	if header != nil || inputMap != nil {
		if header == nil {
			header = newOmap()
		}
		if err := interpolateWith(body, header, inputMap); err != nil {
			return nil, newLoadError("`%s`: %s", path, err.Error())
		}
	}
	return in.expand(body, depth+1)
}

// includeRulesMatch evaluates include:rules with the pre-pipeline variables
// only: YAML variables are not visible to includes (docs/ci-yaml.md,
// "Variables visible to expressions").
func includeRulesMatch(rules any, src Source) (bool, error) {
	list, ok := rules.([]any)
	if !ok {
		return false, newLoadError("include rules should be an array of hashes")
	}
	for _, r := range list {
		h, ok := r.(*omap)
		if !ok {
			return false, newLoadError("include rule should be a hash")
		}
		rc, err := parseRuleClauses(h)
		if err != nil {
			return false, err
		}
		if rc.matches(src, src.Variables) {
			return rc.when != "never", nil
		}
	}
	return false, nil
}

// deepMerge is ActiveSupport's Hash#deep_merge: hashes merge recursively,
// anything else in over replaces the value of base. Neither input changes.
func deepMerge(base, over *omap) *omap {
	out := cloneOmap(base)
	for _, k := range over.keys {
		ov := over.m[k]
		if bh, ok := out.m[k].(*omap); ok {
			if oh, ok := ov.(*omap); ok {
				out.set(k, deepMerge(bh, oh))
				continue
			}
		}
		out.set(k, ov)
	}
	return out
}

func cloneOmap(o *omap) *omap {
	c := &omap{keys: append([]string(nil), o.keys...), m: make(map[string]any, len(o.m))}
	for k, v := range o.m {
		c.m[k] = v
	}
	if o.nonString != nil {
		c.nonString = map[string]bool{}
		for k, v := range o.nonString {
			c.nonString[k] = v
		}
	}
	return c
}

// toJSON renders a value as JSON, for include error messages.
func toJSON(v any) string {
	b, err := json.Marshal(plain(v))
	if err != nil {
		return rubyInspect(v)
	}
	return string(b)
}

// plain converts a value tree to encoding/json-friendly types.
func plain(v any) any {
	switch t := v.(type) {
	case *omap:
		m := make(orderedJSON, 0, t.len())
		for _, k := range t.keys {
			m = append(m, kv{k, plain(t.m[k])})
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plain(e)
		}
		return out
	case *refTag:
		return t.String()
	}
	return v
}

type kv struct {
	k string
	v any
}

// orderedJSON marshals as an object with the keys in order.
type orderedJSON []kv

func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

var inputRe = regexp.MustCompile(`\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]`)

// interpolateInputs substitutes $[[ inputs.x ]] with the spec:inputs
// defaults of the header document.
func interpolateInputs(root, header *omap) error {
	return interpolateWith(root, header, nil)
}

// interpolateWith resolves inputs from provided (include:inputs) or from the
// defaults declared in header's spec:inputs.
func interpolateWith(root, header, provided *omap) error {
	spec, _ := header.get("spec")
	specH, _ := spec.(*omap)
	decl, _ := specH.get("inputs")
	declH, _ := decl.(*omap)
	values := map[string]any{}
	if declH != nil {
		for _, name := range declH.keys {
			if provided != nil && provided.has(name) {
				values[name], _ = provided.get(name)
				continue
			}
			d, _ := declH.get(name)
			if dh, ok := d.(*omap); ok && dh.has("default") {
				values[name], _ = dh.get("default")
				continue
			}
			return newLoadError("`%s` input: required value has not been provided", name)
		}
	}
	if provided != nil {
		for _, name := range provided.keys {
			if declH == nil || !declH.has(name) {
				return newLoadError("unknown input arguments: %s", name)
			}
		}
	}
	var ierr error
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			if !strings.Contains(t, "$[[") {
				return t
			}
			if m := inputRe.FindStringSubmatchIndex(t); m != nil && m[0] == 0 && m[1] == len(t) {
				name := t[m[2]:m[3]]
				if val, ok := values[name]; ok {
					return val
				}
				ierr = newLoadError("unknown interpolation key: `%s`", name)
				return t
			}
			return inputRe.ReplaceAllStringFunc(t, func(s string) string {
				name := inputRe.FindStringSubmatch(s)[1]
				if val, ok := values[name]; ok {
					return rubyToS(val)
				}
				ierr = newLoadError("unknown interpolation key: `%s`", name)
				return s
			})
		case []any:
			out := make([]any, len(t))
			for i, e := range t {
				out[i] = walk(e)
			}
			return out
		case *omap:
			out := newOmap()
			for _, k := range t.keys {
				nk := k
				if strings.Contains(k, "$[[") {
					nk = rubyToS(walk(k))
				}
				out.set(nk, walk(t.m[k]))
			}
			out.nonString = t.nonString
			*t = *out
			return t
		}
		return v
	}
	walk(root)
	return ierr
}

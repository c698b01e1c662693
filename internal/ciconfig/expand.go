package ciconfig

import (
	"slices"
	"strings"
)

// The expand phase: include: (include.go), then extends:, then !reference,
// in that order, as Gitlab::Ci::Config#build_config does
// (lib/gitlab/ci/config.rb; extends: Config::Extendable, !reference:
// Config::Yaml::Tags::Reference). Errors are fixed sentences, not lowercased.

// expand returns the merged configuration the check phase reads, and the
// included files (also when an include fails: those read until then). b
// bounds the work and the expanded size (limits.go).
func expand(b *budget, src Source, root *omap) (*omap, []Include, error) {
	inc := &includer{src: src, b: b}
	root, err := inc.expand(root, inc.rootCtx(), 0)
	if err != nil {
		return nil, inc.files, err
	}
	root, err = expandTree(b, root)
	return root, inc.files, err
}

// expandTree applies extends: and !reference.
func expandTree(b *budget, root *omap) (*omap, error) {
	if err := applyExtends(b, root); err != nil {
		return nil, err
	}
	if err := resolveReferences(b, root); err != nil {
		return nil, err
	}
	return root, nil
}

// maxExtendsPath is Extendable::Entry::MAX_NESTING_LEVELS: an entry whose
// extends path (itself and the entries that led to it) is longer fails.
const maxExtendsPath = 10

// maxReferenceDepth is the nesting limit of !reference.
const maxReferenceDepth = 10

// applyExtends resolves extends: for every top-level hash, in key order, as
// Config::Extendable does. Errors are fixed sentences, not lowercased.
func applyExtends(b *budget, root *omap) error {
	done := map[string]bool{}
	for _, k := range root.keys {
		if _, err := extendEntry(b, root, k, nil, done); err != nil {
			return err
		}
	}
	return nil
}

func extendEntry(bg *budget, root *omap, key string, path []string, done map[string]bool) (any, error) {
	path = append(slices.Clone(path), key)
	val, _ := root.get(key)
	h, ok := val.(*omap)
	if !ok || !h.has("extends") || done[key] {
		return val, nil
	}
	ev, _ := h.get("extends")
	bases, ok := stringOrList(ev)
	if !ok {
		// Left for entry validation: "extends should be an array of strings or a string".
		return val, nil
	}
	var unknown, invalid []string
	for _, b := range bases {
		bv, ok := root.get(b)
		if !ok {
			unknown = append(unknown, b)
			continue
		}
		if _, ok := bv.(*omap); !ok {
			invalid = append(invalid, b)
		}
	}
	if len(unknown) > 0 {
		return nil, newLoadError("%s: unknown keys in `extends` (%s)", key, strings.Join(unknown, ", "))
	}
	if len(invalid) > 0 {
		return nil, newLoadError("%s: invalid base hashes in `extends` (%s)", key, strings.Join(invalid, ", "))
	}
	if len(path) > maxExtendsPath {
		return nil, newLoadError("%s: nesting too deep in `extends`", key)
	}
	merged := newOmap()
	for _, b := range bases {
		if slices.Contains(path, b) {
			return nil, newLoadError("%s: circular dependency detected in `extends`", b)
		}
		bv, err := extendEntry(bg, root, b, path, done)
		if err != nil {
			return nil, err
		}
		if merged, err = bg.merge(merged, bv.(*omap)); err != nil {
			return nil, err
		}
	}
	out, err := bg.merge(merged, h)
	if err != nil {
		return nil, err
	}
	root.set(key, out)
	done[key] = true
	return out, nil
}

// resolveReferences replaces every !reference in root with the value found
// at its path in the merged configuration. A reference resolves once per
// nesting depth and its value is shared wherever it is used, as GitLab's
// Tags::Base memoizes resolved_value; the size of the tree it stands for
// is still counted, so references of references that double at each level
// fail with GitLab's total size error after work proportional to the
// configuration, not to its expansion.
func resolveReferences(b *budget, root *omap) error {
	r := &refResolver{root: root, b: b, memo: map[refKey]sized{}}
	total := 0
	// References are looked up in the configuration as written, so every
	// one is met again as a tag and found in memo; root changes at the end.
	out := make([]any, len(root.keys))
	for i, k := range root.keys {
		x, err := r.resolve(root.m[k], nil)
		if err != nil {
			return err
		}
		out[i] = x.v
		if total = satAdd(total, x.size, b.maxSize); total > b.maxSize {
			return &loadError{msgTotalTooBig}
		}
	}
	for i, k := range root.keys {
		root.m[k] = out[i]
	}
	return nil
}

type refResolver struct {
	root *omap
	b    *budget
	memo map[refKey]sized
}

// refKey is a reference at a nesting depth: whether the depth limit is hit
// depends on both.
type refKey struct {
	id    string
	depth int
}

// sized is a resolved value, the size of the tree it stands for (in the
// loader's approxSize units, saturated above the budget) and whether it
// differs from the value resolved.
type sized struct {
	v       any
	size    int
	changed bool
}

func (r *refResolver) resolve(v any, stack []string) (sized, error) {
	if err := r.b.work(1); err != nil {
		return sized{}, err
	}
	switch t := v.(type) {
	case *refTag:
		id := t.String()
		if slices.Contains(stack, id) {
			return sized{}, newLoadError("%s is part of a circular chain", id)
		}
		if len(stack) >= maxReferenceDepth {
			return sized{}, newLoadError("%s is part of a circular chain", id)
		}
		key := refKey{id, len(stack)}
		if x, ok := r.memo[key]; ok {
			return x, nil
		}
		target, ok := lookupPath(r.root, t.path)
		if !ok {
			return sized{}, newLoadError("%s could not be found", id)
		}
		x, err := r.resolve(target, append(slices.Clone(stack), id))
		if err != nil {
			return sized{}, err
		}
		x.changed = true
		r.memo[key] = x
		return x, nil
	case []any:
		var out []any
		size := nodeCost + 8*len(t)
		for i, e := range t {
			x, err := r.resolve(e, stack)
			if err != nil {
				return sized{}, err
			}
			if x.changed && out == nil {
				out = slices.Clone(t)
			}
			if out != nil {
				out[i] = x.v
			}
			if size = satAdd(size, x.size, r.b.maxSize); size > r.b.maxSize {
				return sized{}, &loadError{msgTotalTooBig}
			}
		}
		if out == nil {
			return sized{v: t, size: size}, nil
		}
		return sized{v: out, size: size, changed: true}, nil
	case *omap:
		var out *omap
		size := nodeCost + 16*t.len()
		for _, k := range t.keys {
			x, err := r.resolve(t.m[k], stack)
			if err != nil {
				return sized{}, err
			}
			if x.changed && out == nil {
				out = cloneOmap(t)
			}
			if out != nil {
				out.m[k] = x.v
			}
			if size = satAdd(size, x.size, r.b.maxSize); size > r.b.maxSize {
				return sized{}, &loadError{msgTotalTooBig}
			}
		}
		if out == nil {
			return sized{v: t, size: size}, nil
		}
		return sized{v: out, size: size, changed: true}, nil
	case string:
		return sized{v: t, size: nodeCost + len(t)}, nil
	}
	return sized{v: v, size: nodeCost}, nil
}

func lookupPath(root *omap, path []string) (any, bool) {
	var cur any = root
	for _, p := range path {
		h, ok := cur.(*omap)
		if !ok {
			return nil, false
		}
		cur, ok = h.get(p)
		if !ok {
			return nil, false
		}
	}
	return cur, len(path) > 0
}

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
// included files (also when an include fails: those read until then).
func expand(src Source, root *omap) (*omap, []Include, error) {
	inc := &includer{src: src}
	root, err := inc.expand(root, inc.rootCtx(), 0)
	if err != nil {
		return nil, inc.files, err
	}
	root, err = expandTree(root)
	return root, inc.files, err
}

// expandTree applies extends: and !reference.
func expandTree(root *omap) (*omap, error) {
	if err := applyExtends(root); err != nil {
		return nil, err
	}
	if err := resolveReferences(root); err != nil {
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
func applyExtends(root *omap) error {
	done := map[string]bool{}
	for _, k := range root.keys {
		if _, err := extendEntry(root, k, nil, done); err != nil {
			return err
		}
	}
	return nil
}

func extendEntry(root *omap, key string, path []string, done map[string]bool) (any, error) {
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
		bv, err := extendEntry(root, b, path, done)
		if err != nil {
			return nil, err
		}
		merged = deepMerge(merged, bv.(*omap))
	}
	out := deepMerge(merged, h)
	root.set(key, out)
	done[key] = true
	return out, nil
}

// resolveReferences replaces every !reference in root with the value found
// at its path in the merged configuration.
func resolveReferences(root *omap) error {
	r := &refResolver{root: root}
	for _, k := range root.keys {
		v, err := r.resolve(root.m[k], nil)
		if err != nil {
			return err
		}
		root.m[k] = v
	}
	return nil
}

type refResolver struct {
	root *omap
}

func (r *refResolver) resolve(v any, stack []string) (any, error) {
	switch t := v.(type) {
	case *refTag:
		id := t.String()
		if slices.Contains(stack, id) {
			return nil, newLoadError("%s is part of a circular chain", id)
		}
		if len(stack) >= maxReferenceDepth {
			return nil, newLoadError("%s is part of a circular chain", id)
		}
		target, ok := lookupPath(r.root, t.path)
		if !ok {
			return nil, newLoadError("%s could not be found", id)
		}
		return r.resolve(target, append(slices.Clone(stack), id))
	case []any:
		if !containsRef(t) {
			return t, nil
		}
		out := make([]any, len(t))
		for i, e := range t {
			x, err := r.resolve(e, stack)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case *omap:
		if !containsRef(t) {
			return t, nil
		}
		out := cloneOmap(t)
		for _, k := range out.keys {
			x, err := r.resolve(out.m[k], stack)
			if err != nil {
				return nil, err
			}
			out.m[k] = x
		}
		return out, nil
	}
	return v, nil
}

func containsRef(v any) bool {
	switch t := v.(type) {
	case *refTag:
		return true
	case []any:
		return slices.ContainsFunc(t, containsRef)
	case *omap:
		for _, k := range t.keys {
			if containsRef(t.m[k]) {
				return true
			}
		}
	}
	return false
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

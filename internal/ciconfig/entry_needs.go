package ciconfig

import "slices"

// needEntries are the keys of a needs: item in hash form (Entry::Need,
// lib/gitlab/ci/config/entry/need.rb). job is required and read first; a
// need stops at its first error and is then dropped.
var needEntries = entries[*needDecoder]{
	{key: "job"},
	{key: "artifacts", nulls: true, decode: attrOf(aBoolean, func(d *needDecoder) *bool { return &d.n.Artifacts })},
	{key: "optional", nulls: true, decode: attrOf(aBoolean, func(d *needDecoder) *bool { return &d.n.Optional })},
	{key: "pipeline", nulls: true, decode: textOf(func(d *needDecoder) *string { return &d.n.Pipeline })},
	{key: "project", nulls: true, decode: textOf(func(d *needDecoder) *string { return &d.n.Project })},
	{key: "ref", nulls: true, decode: textOf(func(d *needDecoder) *string { return &d.n.Ref })},
	{key: "parallel", nulls: true, decode: func(d *needDecoder, f field) bool {
		ph, _ := f.val.(*omap)
		m, _ := ph.get("matrix")
		combos, ok := f.v.matrix(f.path()+":matrix", m)
		d.n.matrix = combos
		return ok
	}},
}

type needDecoder struct{ n *Need }

// needs validates needs: of a job or a rule (Entry::Needs).
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
			nloc := loc + ":need"
			if v.rejectUnknown(nloc, needEntries.unknown(t, anywhere)) {
				ok = false
				continue
			}
			jn, _ := t.get("job")
			name, isStr := jn.(string)
			if !isStr {
				v.add(nloc, "config missing required keys: job")
				ok = false
				continue
			}
			n := Need{Job: name, Artifacts: true}
			if !needEntries.decode(&needDecoder{&n}, v, nloc, t, anywhere, true) {
				ok = false
				continue
			}
			out = append(out, n)
		default:
			v.add(loc+":need", "has an unsupported type")
			ok = false
		}
	}
	return out, ok
}

// matrix validates parallel:matrix (Entry::Product::Matrix) and returns the
// expanded combinations, each as ordered key/value pairs.
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

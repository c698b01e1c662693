package ciconfig

import "slices"

// imageEntries are the keys of image: and of a services: item in hash form
// (Entry::Image, Entry::Service; lib/gitlab/ci/config/entry/image.rb,
// service.rb). name is required and read first.
var imageEntries = entries[*Image]{
	{key: "name", in: inImage | inService},
	{key: "entrypoint", in: inImage | inService, nulls: true, decode: attrOf(stringArray, func(i *Image) *[]string { return &i.Entrypoint })},
	{key: "command", in: inService, nulls: true, decode: attrOf(stringArray, func(i *Image) *[]string { return &i.Command })},
	{key: "alias", in: inService, nulls: true, decode: attrOf(aString, func(i *Image) *string { return &i.Alias })},
	{key: "ports", in: inService},
	{key: "variables", in: inService},
	{key: "pull_policy", in: inImage | inService, nulls: true, decode: nodeOf(pullPolicy, func(i *Image) *[]string { return &i.PullPolicy })},
	{key: "docker", in: inImage | inService, decode: func(i *Image, f field) bool {
		return executorOpts(f, []string{"platform", "user"}, &i.Docker)
	}},
	{key: "kubernetes", in: inImage | inService, decode: func(i *Image, f field) bool {
		return executorOpts(f, []string{"user"}, &i.Kubernetes)
	}},
}

// executorOpts reads image:docker or image:kubernetes, GitLab's
// executor_opts (schemas/imageable/executor_opts.json: a hash of
// non-empty strings), passed to the runner as they are. GitLab reports
// schema violations with JSON-schema wording; Gantry says which key is
// wrong.
func executorOpts(f field, keys []string, dst *map[string]string) bool {
	h, ok := f.val.(*omap)
	if !ok {
		f.nodeError("should be a hash")
		return false
	}
	if f.v.rejectUnknown(f.path(), unknownKeys(h, keys)) {
		return false
	}
	out := map[string]string{}
	for _, k := range h.keys {
		s, isStr := h.m[k].(string)
		if !isStr || s == "" {
			f.v.add(f.path(), "%s should be a non-empty string", k)
			return false
		}
		out[k] = s
	}
	*dst = out
	return true
}

var pullPolicy = kind[[]string]{
	func(x any) ([]string, bool) {
		l, ok := stringOrList(x)
		for _, p := range l {
			ok = ok && slices.Contains([]string{"always", "never", "if-not-present"}, p)
		}
		return l, ok
	},
	"should be a string or an array of strings",
}

// image validates image: (a string or a hash).
func (v *validator) image(loc string, val any) *Image {
	switch t := val.(type) {
	case string:
		return &Image{Name: t}
	case *omap:
		return v.imageHash(loc, t, inImage)
	}
	v.add(loc, "config should be a hash or a string")
	return nil
}

// imageHash validates the hash form of an image (in inImage) or a service
// (in inService).
func (v *validator) imageHash(loc string, t *omap, in scope) *Image {
	if v.rejectUnknown(loc, imageEntries.unknown(t, in)) {
		return nil
	}
	name, ok := requiredString(v, loc, t, "name")
	if !ok {
		return nil
	}
	img := &Image{Name: name}
	imageEntries.decode(img, v, loc, t, in, false)
	return img
}

// services validates services: (an array of images).
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
			if img := v.imageHash(loc+":service", t, inService); img != nil {
				out = append(out, *img)
			}
		default:
			v.add(loc+":service", "config should be a hash or a string")
		}
	}
	return out
}

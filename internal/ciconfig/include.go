package ciconfig

import (
	"encoding/json"
	"errors"
	"net/url"
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
	b     *budget
	count int
	// files records the included files in GitLab's order, for Lint.
	files []Include
}

// Include is one included file as CI Lint lists it
// (External::File::*#metadata).
type Include struct {
	// ContextProject and ContextSHA are the project and commit of the file
	// that includes this one.
	ContextProject string `json:"context_project"`
	ContextSHA     string `json:"context_sha"`
	// Type is local, file (include:project), remote, template or component.
	Type     string `json:"type"`
	Location string `json:"location"`
	// Blob and Raw are the file's web URLs, when it has them.
	Blob  *string           `json:"blob"`
	Raw   *string           `json:"raw"`
	Extra map[string]string `json:"extra"`
}

// fileCtx is where a file's include:local paths are read: the pipeline's
// commit, or the project and commit a project or component include came
// from (External::File::Base#expand_context_attrs).
type fileCtx struct {
	read    func(path string) ([]byte, error)
	project string // full path
	sha     string
}

// rootCtx reads local files from the pipeline's own commit.
func (in *includer) rootCtx() fileCtx {
	return fileCtx{read: in.src.ReadFile, project: in.src.Variables["CI_PROJECT_PATH"], sha: in.src.Variables["CI_COMMIT_SHA"]}
}

// fileURL is a project file's blob or raw web URL (project_blob_url,
// project_raw_url); nil without a project.
func (in *includer) fileURL(kind, project, sha, path string) *string {
	if project == "" || sha == "" {
		return nil
	}
	u := strings.TrimRight(in.src.Variables["CI_SERVER_URL"], "/") + "/" + project + "/-/" + kind + "/" + sha + "/" + path
	return &u
}

// expand returns root with its includes merged in: included files first, in
// order (a later file wins), then root itself on top.
func (in *includer) expand(root *omap, fc fileCtx, depth int) (*omap, error) {
	incl, ok := root.get("include")
	if !ok {
		return root, nil
	}
	locs, err := normalizeIncludes(incl)
	if err != nil {
		return nil, err
	}
	// All files of this level are fetched first, then each is expanded in
	// turn (External::Mapper, then Processor#merge_external_files!), so
	// Lint lists them in GitLab's order.
	type fetched struct {
		f   *includedFile
		loc *omap
	}
	var files []fetched
	for _, loc := range locs {
		f, err := in.fetch(loc, fc)
		if err != nil {
			return nil, err
		}
		if f != nil {
			files = append(files, fetched{f, loc})
		}
	}
	merged := newOmap()
	for _, x := range files {
		body, err := in.parseIncluded(x.f, x.loc)
		if err != nil {
			return nil, err
		}
		m, err := in.expand(body, x.f.ctx, depth+1)
		if err != nil {
			return nil, err
		}
		if merged, err = in.b.merge(merged, m); err != nil {
			return nil, err
		}
	}
	own := cloneOmap(root)
	own.del("include")
	return in.b.merge(merged, own)
}

// normalizeIncludes turns every accepted include form into a list of hashes;
// a project include with a list of files becomes one include per file
// (External::Mapper::Normalizer).
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
			if files, ok := t.get("file"); ok && t.has("project") {
				if list, ok := files.([]any); ok {
					for _, f := range list {
						h := cloneOmap(t)
						h.set("file", f)
						out = append(out, h)
					}
					continue
				}
			}
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

// includedFile is one fetched include: its content, the name its errors
// use, where its own local includes are read and what Lint shows of it.
type includedFile struct {
	content []byte
	name    string
	ctx     fileCtx
	info    Include
}

// fetch reads one include location; nil means skipped by rules.
func (in *includer) fetch(loc *omap, fc fileCtx) (*includedFile, error) {
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
	// Context#check_execution_time! runs before each file is fetched.
	if err := in.b.check(); err != nil {
		return nil, err
	}
	in.count++
	if in.count > maxIncludes {
		return nil, newLoadError("Maximum of %d nested includes are allowed!", maxIncludes)
	}
	kind := kinds[0]
	raw, _ := loc.get(kind)
	if kind == "project" {
		raw, _ = loc.get("file")
		if _, ok := loc.get("file"); !ok {
			return nil, newLoadError("`%s` does not have a valid subkey for include. Valid subkeys are: `%s`",
				toJSON(loc), strings.Join(includeSubkeys, "`, `"))
		}
	}
	location, ok := raw.(string)
	if !ok {
		return nil, newLoadError("Included file `%s` needs to be a string", rubyInspect(raw))
	}
	// Locations may use variables (External::Mapper::VariablesExpander).
	location = expandVars(location, in.src.Variables)
	var f *includedFile
	var err error
	switch kind {
	case "local":
		f, err = in.local(location, fc)
		if err == nil {
			f.info = Include{Type: "local", Location: f.name, Blob: in.fileURL("blob", fc.project, fc.sha, f.name),
				Raw: in.fileURL("raw", fc.project, fc.sha, f.name)}
		}
	case "project":
		f, err = in.project(loc, location)
	case "remote":
		f, err = in.remote(location)
	case "template":
		if !strings.HasSuffix(location, ".gitlab-ci.yml") {
			return nil, newLoadError("Template file `%s` is not a valid location!", location)
		}
		return nil, newLoadError("Template file `%s` is not available: this server does not ship GitLab's CI/CD template library; include the file with include:local, include:project or include:remote instead", location)
	case "component":
		f, err = in.component(location)
	case "artifact":
		if in.src.ReadArtifact == nil {
			return nil, newLoadError("Only `local`, `project`, `remote`, `template` and `component` includes are allowed here; `artifact` is only supported in trigger:include")
		}
		f, err = in.artifact(loc, location)
	}
	if err != nil {
		return nil, err
	}
	f.info.ContextProject, f.info.ContextSHA = fc.project, fc.sha
	if f.info.Extra == nil {
		f.info.Extra = map[string]string{}
	}
	in.files = append(in.files, f.info)
	return f, nil
}

// parseIncluded loads an included file's documents and applies its header
// with the include's inputs.
func (in *includer) parseIncluded(f *includedFile, loc *omap) (*omap, error) {
	if len(f.content) > maxYAMLSize {
		return nil, newLoadError("`%s`: %s", f.name, msgTooBig)
	}
	if err := in.b.addFile(len(f.content)); err != nil {
		return nil, err
	}
	docs, err := parseDocuments(f.content)
	if err != nil {
		return nil, newLoadError("`%s`: %s", f.name, err.Error())
	}
	if len(docs) == 0 || len(docs) > maxDocuments {
		return nil, newLoadError("Included file `%s` does not have valid YAML syntax!", f.name)
	}
	var vals []any
	for _, d := range docs {
		c := newConverter()
		v, err := c.convert(d, 0)
		if err != nil {
			return nil, newLoadError("`%s`: %s", f.name, err.Error())
		}
		vals = append(vals, v)
	}
	var header *omap
	if len(vals) == 2 {
		h, ok := vals[0].(*omap)
		if !ok || !h.has("spec") {
			return nil, newLoadError("Included file `%s` does not have valid YAML syntax!", f.name)
		}
		header, vals = h, vals[1:]
	}
	body, ok := vals[0].(*omap)
	if !ok {
		return nil, newLoadError("Included file `%s` does not have valid YAML syntax!", f.name)
	}
	var args *omap
	if inputs, ok := loc.get("inputs"); ok && inputs != nil {
		if args, ok = inputs.(*omap); !ok {
			return nil, newLoadError("`%s`: inputs should be a hash", f.name)
		}
	}
	body, err = interpolateFile(body, header, args, in.src.Variables)
	if err != nil {
		return nil, newLoadError("`%s`: %s", f.name, err.Error())
	}
	return body, nil
}

// checkYAMLExtension is External::File::Base#validate_location!.
func checkYAMLExtension(path string) error {
	if !strings.HasSuffix(path, ".yml") && !strings.HasSuffix(path, ".yaml") {
		return newLoadError("Included file `%s` does not have YAML extension!", path)
	}
	return nil
}

// local is External::File::Local.
func (in *includer) local(location string, fc fileCtx) (*includedFile, error) {
	path := strings.TrimLeft(location, "/")
	if err := checkYAMLExtension(path); err != nil {
		return nil, err
	}
	if fc.read == nil {
		return nil, newLoadError("Local file `%s` does not exist!", path)
	}
	content, err := fc.read(path)
	if err != nil {
		return nil, newLoadError("Local file `%s` does not exist!", path)
	}
	if len(strings.TrimSpace(string(content))) == 0 {
		return nil, newLoadError("Local file `%s` is empty!", path)
	}
	return &includedFile{content: content, name: path, ctx: fc}, nil
}

// artifact is External::File::Artifact: a file of the archive of a job of
// the parent pipeline; its local includes read the pipeline's commit.
func (in *includer) artifact(loc *omap, location string) (*includedFile, error) {
	if err := checkYAMLExtension(location); err != nil {
		return nil, err
	}
	j, _ := loc.get("job")
	job := rubyToS(j)
	if job == "" {
		return nil, newLoadError("Job must be provided when including configs from artifacts")
	}
	content, err := in.src.ReadArtifact(job, location)
	switch {
	case errors.Is(err, ErrArtifactJobNotFound):
		return nil, newLoadError("Job `%s` not found in parent pipeline or does not have artifacts!", job)
	case err != nil:
		return nil, newLoadError("%s", err.Error())
	case len(strings.TrimSpace(string(content))) == 0:
		return nil, newLoadError("File `%s` is empty!", location)
	}
	return &includedFile{content: content, name: location, ctx: in.rootCtx(),
		info: Include{Type: "artifact", Location: location, Extra: map[string]string{"job_name": job}}}, nil
}

// project is External::File::Project: the file at ref (HEAD when absent) of
// another project the pipeline's user may read.
func (in *includer) project(loc *omap, location string) (*includedFile, error) {
	path := strings.TrimLeft(location, "/")
	rawProject, _ := loc.get("project")
	if list, ok := rawProject.([]any); ok && len(list) > 0 {
		rawProject = list[0]
	}
	project := strings.ToLower(expandVars(rubyToS(rawProject), in.src.Variables))
	ref := "HEAD"
	if r, ok := loc.get("ref"); ok && r != nil {
		ref = expandVars(rubyToS(r), in.src.Variables)
	}
	if err := checkYAMLExtension(path); err != nil {
		return nil, err
	}
	notFound := newLoadError("Project `%s` not found or access denied! Make sure any includes in the pipeline configuration are correctly defined.", project)
	if in.src.Projects == nil {
		return nil, notFound
	}
	sha, err := in.src.Projects.ResolveRef(project, ref)
	switch {
	case errors.Is(err, ErrRefNotFound):
		return nil, newLoadError("Project `%s` reference `%s` does not exist!", project, ref)
	case err != nil:
		return nil, notFound
	}
	content, err := in.src.Projects.ReadFile(project, sha, path)
	if err != nil {
		return nil, newLoadError("Project `%s` file `%s` does not exist!", project, path)
	}
	if len(strings.TrimSpace(string(content))) == 0 {
		return nil, newLoadError("Project `%s` file `%s` is empty!", project, path)
	}
	return &includedFile{content: content, name: path, ctx: in.projectCtx(project, sha),
		info: Include{Type: "file", Location: path, Blob: in.fileURL("blob", project, sha, path),
			Raw: in.fileURL("raw", project, sha, path), Extra: map[string]string{"project": project, "ref": ref}}}, nil
}

func (in *includer) projectCtx(project, sha string) fileCtx {
	return fileCtx{read: func(p string) ([]byte, error) { return in.src.Projects.ReadFile(project, sha, p) }, project: project, sha: sha}
}

// remote is External::File::Remote. Local includes inside a remote file
// read the pipeline's own commit.
func (in *includer) remote(location string) (*includedFile, error) {
	u, err := url.Parse(location)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, newLoadError("Remote file `%s` does not have a valid address!", location)
	}
	if err := checkYAMLExtension(location); err != nil {
		return nil, err
	}
	if in.src.FetchRemote == nil {
		return nil, newLoadError("Remote file `%s` could not be fetched because of a socket error!", location)
	}
	content, err := in.src.FetchRemote(location)
	var se *RemoteStatusError
	var be *RemoteBlockedError
	switch {
	case errors.As(err, &be):
		return nil, newLoadError("Remote file could not be fetched because %s!", be.Reason)
	case errors.As(err, &se):
		return nil, newLoadError("Remote file `%s` could not be fetched because of HTTP code `%d` error!", location, se.Code)
	case errors.Is(err, ErrRemoteTimeout):
		return nil, newLoadError("Remote file `%s` could not be fetched because of a timeout error!", location)
	case errors.Is(err, ErrRemoteHTTP):
		return nil, newLoadError("Remote file `%s` could not be fetched because of HTTP error!", location)
	case err != nil:
		return nil, newLoadError("Remote file `%s` could not be fetched because of a socket error!", location)
	}
	if len(strings.TrimSpace(string(content))) == 0 {
		return nil, newLoadError("Included file `%s` is empty or does not exist!", location)
	}
	return &includedFile{content: content, name: location, ctx: in.rootCtx(),
		info: Include{Type: "remote", Location: location, Raw: &location}}, nil
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
		if ok, _ := rc.matches(src, src.Variables); ok {
			return rc.when != "never", nil
		}
	}
	return false, nil
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

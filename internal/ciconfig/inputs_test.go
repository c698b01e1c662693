package ciconfig

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// memProjects serves other projects' files from maps: project → ref → sha,
// and sha → path → content.
type memProjects struct {
	refs  map[string]map[string]string
	files map[string]map[string]string
	tags  map[string][]string
}

func (m memProjects) ResolveRef(project, ref string) (string, error) {
	refs, ok := m.refs[project]
	if !ok {
		return "", ErrProjectNotFound
	}
	if ref == "" {
		ref = "HEAD"
	}
	sha, ok := refs[ref]
	if !ok {
		return "", ErrRefNotFound
	}
	return sha, nil
}

func (m memProjects) ReadFile(project, sha, path string) ([]byte, error) {
	c, ok := m.files[sha][path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(c), nil
}

func (m memProjects) Tags(project string) ([]string, error) { return m.tags[project], nil }

func (m memProjects) ListFiles(project, sha string) ([]string, error) {
	var out []string
	for p := range m.files[sha] {
		out = append(out, p)
	}
	return out, nil
}

func TestInputs(t *testing.T) {
	t.Parallel()
	const header = `spec:
  inputs:
    name:
    stage:
      default: test
      options: [build, test]
    n:
      type: number
      default: 2
    flag:
      type: boolean
      default: false
    list:
      type: array
      default: [a, b]
    id:
      regex: ^[a-z]+$
      default: abc
---
`
	const body = `job-$[[ inputs.name ]]:
  stage: $[[ inputs.stage ]]
  script: echo "$[[ inputs.name | truncate(1,3) ]] $[[ inputs.n ]] $[[ inputs.flag ]] $[[ inputs.list ]] $[[ inputs.name | expand_vars | truncate(0,5) ]]"
  parallel: $[[ inputs.n ]]
`
	cases := []struct {
		name   string
		config string
		inputs map[string]any
		want   string // the first job's name and script, or the error
	}{
		{"defaults and given", header + body, map[string]any{"name": "$WHO-x"}, "job-$WHO-x 1/2: echo \"WHO 2 false [\"a\", \"b\"] alice\""},
		{"typed values", header + body, map[string]any{"name": "abcdef", "n": int64(3), "flag": true, "list": []any{"z"}}, "job-abcdef 1/3: echo \"bcd 3 true [\"z\"] abcde\""},
		{"required", header + body, nil, "`name` input: required value has not been provided"},
		{"unknown", header + body, map[string]any{"name": "a", "zz": "1", "yy": "2"}, "unknown input arguments: yy, zz"},
		{"string type", header + body, map[string]any{"name": int64(1)}, "`name` input: provided value is not a string"},
		{"number type", header + body, map[string]any{"name": "a", "n": "3"}, "`n` input: provided value is not a number"},
		{"option", header + body, map[string]any{"name": "a", "stage": "deploy"}, "`stage` input: `deploy` cannot be used because it is not in the list of allowed options"},
		{"regex", header + body, map[string]any{"name": "a", "id": "ABC"}, "`id` input: provided value does not match required RegEx pattern"},
		{"several errors", header + body, map[string]any{"n": "x", "flag": "y"}, "`name` input: required value has not been provided, `n` input: provided value is not a number, `flag` input: provided value is not a boolean"},
		{"bad default", "spec:\n  inputs:\n    n:\n      type: number\n      default: x\n---\nj:\n  script: echo\n", nil, "`n` input: default value is not a number"},
		{"unknown type", "spec:\n  inputs:\n    n:\n      type: float\n---\nj:\n  script: echo\n", nil, "unknown input specification for `n` (valid types: array, boolean, number, string)"},
		{"options on boolean", "spec:\n  inputs:\n    b:\n      type: boolean\n      default: true\n      options: [true]\n---\nj:\n  script: echo\n", nil, "`b` input: Options can only be used with string and number inputs"},
		{"unknown header key", "spec:\n  inputs:\n    a:\n      default: x\n      foo: 1\n---\nj:\n  script: echo\n", nil, "header:spec:inputs:a config contains unknown keys: foo"},
		{"unknown key in block", header + "j:\n  script: echo $[[ inputs.nope ]]\n", map[string]any{"name": "a"}, "unknown interpolation key: `nope`"},
		{"bad access", header + "j:\n  script: echo $[[ name ]]\n", map[string]any{"name": "a"}, "invalid interpolation access pattern"},
		{"unknown function", header + "j:\n  script: echo $[[ inputs.name | upcase ]]\n", map[string]any{"name": "a"}, "no function matching `upcase`: check that the function name, arguments, and types are correct"},
		{"truncate a number", header + "j:\n  script: echo $[[ inputs.n | truncate(0,1) ]]\n", map[string]any{"name": "a"}, "error in `truncate` function: invalid input type: truncate can only be used with string inputs"},
		{"too many functions", header + "j:\n  script: echo $[[ inputs.name | expand_vars | expand_vars | expand_vars | expand_vars ]]\n", map[string]any{"name": "a"}, "too many functions in interpolation block"},
		{"inputs without header", "j:\n  script: echo\n", map[string]any{"a": "b"}, "unknown input arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			plan, err := Compile(context.Background(), Source{Content: []byte(c.config), Inputs: c.inputs, Ref: "main", PipelineSource: "push",
				Variables: map[string]string{"WHO": "alice"}})
			got := ""
			if err != nil {
				got = err.(*Error).Errors[0]
			} else {
				got = plan.Jobs[0].Name + ": " + strings.Join(plan.Jobs[0].Script, ";")
			}
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestIncludeKinds(t *testing.T) {
	t.Parallel()
	projects := memProjects{
		refs: map[string]map[string]string{
			"g/lib":  {"HEAD": "s2", "main": "s2", "v1": "s1"},
			"g/comp": {"HEAD": "c3", "main": "c3", "1.0.0": "c1", "1.2.0": "c2", "0.9.0": "c0"},
		},
		files: map[string]map[string]string{
			"s1": {"a.yml": "a1:\n  script: echo\n"},
			"s2": {"a.yml": "include: b.yml\na2:\n  script: echo\n", "b.yml": "b2:\n  script: echo\n", "empty.yml": " \n"},
			"c2": {"templates/t.yml": "spec:\n  inputs:\n    who:\n      default: me\n---\nt-$[[ inputs.who ]]:\n  script: echo\n"},
			"c1": {"templates/t/template.yml": "t-dir:\n  script: echo\n"},
		},
		tags: map[string][]string{"g/comp": {"0.9.0", "1.0.0", "1.2.0", "1.3.0-rc.1", "latest"}},
	}
	vars := map[string]string{"CI_SERVER_FQDN": "ci.example.com", "LIB": "g/lib"}
	cases := []struct{ name, include, want string }{
		{"project at ref", "- project: $LIB\n  ref: v1\n  file: a.yml", "a1"},
		{"project nested local from that project", "- project: g/lib\n  file: [a.yml]", "b2,a2"},
		{"project missing", "- project: g/nope\n  file: a.yml", "Project `g/nope` not found or access denied! Make sure any includes in the pipeline configuration are correctly defined."},
		{"project empty file", "- project: g/lib\n  file: empty.yml", "Project `g/lib` file `empty.yml` is empty!"},
		{"project extension", "- project: g/lib\n  file: a.txt", "Included file `a.txt` does not have YAML extension!"},
		{"component latest with inputs", "- component: $CI_SERVER_FQDN/g/comp/t@~latest\n  inputs: {who: you}", "t-you"},
		{"component directory form", "- component: ci.example.com/g/comp/t@1.0.0", "t-dir"},
		{"component other host", "- component: gitlab.com/g/comp/t@1.0.0", "Component 'gitlab.com/g/comp/t@1.0.0' - the component path is not supported"},
		{"component missing version", "- component: ci.example.com/g/comp/t@9.9.9", "Component 'ci.example.com/g/comp/t@9.9.9' - content not found"},
		{"component missing project", "- component: ci.example.com/g/x/t@1.0.0", "Component 'ci.example.com/g/x/t@1.0.0' - project does not exist or you don't have sufficient permissions"},
		{"component unknown input", "- component: ci.example.com/g/comp/t@1.2.0\n  inputs: {x: 1}", "`ci.example.com/g/comp/t@1.2.0`: unknown input arguments: x"},
		{"remote without fetcher", "- remote: https://example.com/a.yml", "Remote file `https://example.com/a.yml` could not be fetched because of a socket error!"},
		{"remote blocked", "- remote: http://127.0.0.1/a.yml", "Remote file could not be fetched because Requests to localhost are not allowed!"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := "include:\n" + indent(c.include) + "\nmain-job:\n  script: echo\n"
			src := Source{Content: []byte(cfg), Projects: projects, Variables: vars, Ref: "main", PipelineSource: "push"}
			if strings.Contains(c.include, "127.0.0.1") {
				src.FetchRemote = func(string) ([]byte, error) {
					return nil, &RemoteBlockedError{Reason: "Requests to localhost are not allowed"}
				}
			}
			if got := compileOutcome(t, src, "main-job"); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// compileOutcome is the first error of compiling src, or the names of the
// jobs of its plan but skip, joined with commas.
func compileOutcome(t *testing.T, src Source, skip string) string {
	t.Helper()
	plan, err := Compile(context.Background(), src)
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return ce.Errors[0]
	case err != nil:
		t.Fatal(err)
	}
	var names []string
	for _, j := range plan.Jobs {
		if j.Name != skip {
			names = append(names, j.Name)
		}
	}
	return strings.Join(names, ",")
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func TestLatestSemverTag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tags []string
		want string
	}{
		{[]string{"1.2.0", "1.10.0", "1.9.9"}, "1.10.0"},
		{[]string{"v2.0.0", "1.0.0", "3.0.0-rc1"}, "v2.0.0"},
		{[]string{"latest", "1.0", "main"}, ""},
		{nil, ""},
	} {
		if got := LatestSemverTag(c.tags); got != c.want {
			t.Errorf("LatestSemverTag(%v) = %q, want %q", c.tags, got, c.want)
		}
	}
}

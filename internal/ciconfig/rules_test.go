package ciconfig

import "testing"

// TestRulesExistsProject: rules:exists with project and ref reads another
// project's files at a ref (the default branch without ref), with
// Clause::Exists's messages for a project or ref that names nothing.
func TestRulesExistsProject(t *testing.T) {
	t.Parallel()
	projects := memProjects{
		refs: map[string]map[string]string{"g/lib": {"HEAD": "s1", "v1": "s0"}},
		files: map[string]map[string]string{
			"s1": {"lib/a.go": "x", "Dockerfile": "x"},
			"s0": {"lib/old.go": "x"},
		},
	}
	vars := map[string]string{"LIB": "g/lib", "OLD": "v1"}
	cases := []struct{ name, exists, want string }{
		{"default branch", "{paths: [Dockerfile], project: g/lib}", "j"},
		{"glob", "{paths: [\"lib/*.go\"], project: $LIB}", "j"},
		{"not there", "{paths: [lib/old.go], project: g/lib}", ""},
		{"at ref", "{paths: [lib/old.go], project: g/lib, ref: $OLD}", "j"},
		{"no paths", "{paths: [], project: g/lib}", ""},
		{"own project", "{paths: [Dockerfile]}", ""},
		{"unknown project", "{paths: [a], project: g/nope}", "Failed to parse rule for j: rules:exists:project `g/nope` is not a valid project path"},
		{"unknown ref", "{paths: [a], project: g/lib, ref: nope}", "Failed to parse rule for j: rules:exists:ref `nope` is not a valid ref in project `g/lib`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := "j:\n  script: x\n  rules:\n    - exists: " + c.exists + "\nalways:\n  script: x\n"
			got := compileOutcome(t, Source{Content: []byte(cfg), Projects: projects, Variables: vars, Ref: "main", PipelineSource: "push"}, "always")
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

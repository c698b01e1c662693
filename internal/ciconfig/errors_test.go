package ciconfig

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestErrorMessages checks the first error of each documented message.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"empty.yml":   "  \n",
		"bad.yml":     "a: b: c\n",
		"list.yml":    "- a\n",
		"tooling.txt": "x: 1\n",
		"nested.yml":  "include: nested2.yml\nn:\n  script: x\n",
		"nested2.yml": "include: nested.yml\n",
		"inputs.yml":  "spec:\n  inputs:\n    env:\n---\nj:\n  script: echo $[[ inputs.env ]]\n",
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"empty content", "   \n", "Please provide content of .gitlab-ci.yml"},
		{"root not a hash", "- a\n- b\n", "Invalid configuration format"},
		{"root scalar", "hello\n", "Invalid configuration format"},
		{"psych mapping values", "a: b: c\n", "(<unknown>): mapping values are not allowed in this context at line 1 column 5"},
		{"psych block mapping", "build:\n  script: x\n bad: 1\n", "(<unknown>): did not find expected key while parsing a block mapping at line 1 column 1"},
		{"psych tab", "a:\n\tb: 1\n", "(<unknown>): found character that cannot start any token while scanning for the next token at line 2 column 1"},
		{"unknown alias", "a:\n  script: *x\n", "An alias referenced an unknown anchor: x"},
		{"too deep", strings.Repeat("[", 120) + strings.Repeat("]", 120) + "\n", "The parsed YAML is too big"},
		{"alias bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n", "The parsed YAML is too big"},
		{"unknown keys", "rspec:\n  script: x\n  bad_tags: [a]\n", "jobs:rspec config contains unknown keys: bad_tags"},
		{"no visible job", ".hidden:\n  script: x\n", "jobs config should contain at least one visible job"},
		{"job is a string", "extra: string\n", "jobs extra config should implement the script:, run:, or trigger: keyword"},
		{"job without script", "rspec:\n  stage: test\n", "jobs rspec config should implement the script:, run:, or trigger: keyword"},
		{"humanized job name", "my_job:\n  image: x\n", "jobs my job config should implement the script:, run:, or trigger: keyword"},
		{"integer job name", "10:\n  script: x\n", "jobs:10 name should be a symbol"},
		{"blank script", "rspec:\n  script: []\n", "jobs:rspec script can't be blank"},
		{"tags", "rspec:\n  script: x\n  tags: docker\n", "jobs:rspec:tags config should be an array of strings"},
		{"before_script", "rspec:\n  script: x\n  before_script: [{a: b}]\n", "jobs:rspec:before_script config should be a string or a nested array of strings up to 10 levels deep"},
		{"script", "rspec:\n  script: 10\n", "jobs:rspec:script config should be a string or a nested array of strings up to 10 levels deep"},
		{"global image", "image: [a]\nrspec:\n  script: x\n", "image config should be a hash or a string"},
		{"job image", "rspec:\n  script: x\n  image: [a]\n", "jobs:rspec:image config should be a hash or a string"},
		{"services", "rspec:\n  script: x\n  services: mysql\n", "jobs:rspec:services config should be a array"},
		{"service", "rspec:\n  script: x\n  services: [[a]]\n", "jobs:rspec:services:service config should be a hash or a string"},
		{"service entry", "rspec:\n  script: x\n  services: [10]\n", "jobs:rspec:services:service config should be a hash or a string"},
		{"allow_failure type", "rspec:\n  script: x\n  allow_failure: maybe\n", "jobs:rspec allow failure should be a hash or a boolean value"},
		{"allow_failure exit codes", "rspec:\n  script: x\n  allow_failure:\n    exit_codes: [a]\n", "jobs:rspec:allow_failure exit codes should be an array of integers or an integer"},
		{"stage type", "rspec:\n  script: x\n  stage: [a]\n", "jobs:rspec:stage config should be a string"},
		{"stages type", "stages: build\nrspec:\n  script: x\n", "stages config should be an array of strings or a nested array of strings up to 10 levels deep"},
		{"variables type", "variables: [a]\nrspec:\n  script: x\n", "variables config should be a hash"},
		{"variable definition", "variables:\n  A: [1]\nrspec:\n  script: x\n", "variable definition must be either a string or a hash"},
		{"job variable description", "rspec:\n  script: x\n  variables:\n    A: {value: a, description: d}\n", "jobs:rspec:variables:a config uses invalid data keys: description"},
		{"variable options", "variables:\n  ENV: {value: x, options: [a, b]}\nrspec:\n  script: x\n", "variables:env config value must be present in options"},
		{"when", "rspec:\n  script: x\n  when: sometimes\n", "jobs:rspec when should be one of: on_success, on_failure, always, manual, delayed"},
		{"bridge when", "rspec:\n  trigger: a/b\n  when: delayed\n", "jobs:rspec when should be one of: on_success, on_failure, always, manual"},
		{"artifacts name", "rspec:\n  script: x\n  artifacts:\n    name: [a]\n", "jobs:rspec:artifacts name should be a string"},
		{"artifacts when", "rspec:\n  script: x\n  artifacts:\n    when: sometimes\n", "jobs:rspec:artifacts when should be one of: on_success, on_failure, always"},
		{"artifacts expire_in", "rspec:\n  script: x\n  artifacts:\n    expire_in: 7 elephants\n", "jobs:rspec:artifacts expire in should be a duration"},
		{"artifacts untracked", "rspec:\n  script: x\n  artifacts:\n    untracked: maybe\n", "jobs:rspec:artifacts untracked should be a boolean value"},
		{"artifacts paths", "rspec:\n  script: x\n  artifacts:\n    paths: out\n", "jobs:rspec:artifacts paths should be an array of strings"},
		{"cache untracked", "cache:\n  untracked: maybe\nrspec:\n  script: x\n", "cache:untracked config should be a boolean value"},
		{"cache paths", "rspec:\n  script: x\n  cache:\n    paths: out\n", "jobs:rspec:cache:paths config should be an array of strings"},
		{"cache key", "rspec:\n  script: x\n  cache:\n    key: [a]\n", "jobs:rspec:cache:key should be a hash, a string or a symbol"},
		{"cache key files", "rspec:\n  script: x\n  cache:\n    key:\n      files: a\n", "jobs:rspec:cache:key:files config should be an array of strings"},
		{"cache key files empty", "rspec:\n  script: x\n  cache:\n    key:\n      files: []\n", "jobs:rspec:cache:key:files config requires at least 1 item"},
		{"cache key missing files", "rspec:\n  script: x\n  cache:\n    key:\n      prefix: a\n", "jobs:rspec:cache:key config missing required keys: files"},
		{"cache policy", "rspec:\n  script: x\n  cache:\n    policy: pull-only\n", "jobs:rspec:cache policy should be a variable or one of: pull-push, push, pull"},
		{"cache when", "rspec:\n  script: x\n  cache:\n    when: sometimes\n", "jobs:rspec:cache when should be one of: on_success, on_failure, always"},
		{"cache fallback_keys", "rspec:\n  script: x\n  cache:\n    fallback_keys: [a, b, c, d, e, f]\n", "jobs:rspec:cache fallback keys has to many entries (maximum 5)"},
		{"image docker type", "rspec:\n  script: x\n  image: {name: a, docker: arm64}\n", "jobs:rspec:image:docker config should be a hash"},
		{"image docker key", "rspec:\n  script: x\n  image: {name: a, docker: {arch: arm64}}\n", "jobs:rspec:image:docker config contains unknown keys: arch"},
		{"dependencies", "rspec:\n  script: x\n  dependencies: build\n", "jobs:rspec dependencies should be an array of strings"},
		{"only variables", "rspec:\n  script: x\n  only:\n    variables: [\"$A ==\"]\n", "jobs:rspec:only variables invalid expression syntax"},
		{"only changes", "rspec:\n  script: x\n  only:\n    changes: a\n", "jobs:rspec:only changes should be an array of strings"},
		{"needs type", "test1:\n  script: x\n  needs: 10\n", "jobs:test1:needs config can only be a hash or an array"},
		{"need type", "test1:\n  script: x\n  needs: [10]\n", "jobs:test1:needs:need has an unsupported type"},
		{"need unknown keys", "build:\n  script: x\ntest1:\n  script: x\n  needs: [{job: build, something: 1}]\n", "jobs:test1:needs:need config contains unknown keys: something"},
		{"dependencies in needs", "build1:\n  stage: build\n  script: x\nbuild2:\n  stage: build\n  script: x\ntest1:\n  script: x\n  needs: [build1]\n  dependencies: [build2]\n", "jobs:test1 dependencies the build2 should be part of needs"},
		{"extends unknown", "rspec:\n  extends: something\n  script: x\n", "rspec: unknown keys in `extends` (something)"},
		{"extends invalid base", "base: 1\nrspec:\n  extends: base\n  script: x\n", "rspec: invalid base hashes in `extends` (base)"},
		{"extends circular", ".a:\n  extends: .b\n.b:\n  extends: .a\nrspec:\n  extends: .a\n  script: x\n", ".a: circular dependency detected in `extends`"},
		{"extends too deep", ".a1: {extends: .a2}\n.a2: {extends: .a3}\n.a3: {extends: .a4}\n.a4: {extends: .a5}\n.a5: {extends: .a6}\n.a6: {extends: .a7}\n.a7: {extends: .a8}\n.a8: {extends: .a9}\n.a9: {extends: .a10}\n.a10: {extends: .a11}\n.a11: {extends: .a12}\n.a12: {script: x}\nrspec:\n  extends: .a1\n", ".a11: nesting too deep in `extends`"},
		{"parallel type", "rspec:\n  script: x\n  parallel: many\n", "jobs:rspec parallel should be an integer or a hash"},
		{"parallel too big", "rspec:\n  script: x\n  parallel: 201\n", "jobs:rspec:parallel config must be less than or equal to 200"},
		{"matrix type", "rspec:\n  script: x\n  parallel:\n    matrix: [a]\n", "jobs:rspec:parallel:matrix config should be an array of hashes"},
		{"rules if", "rspec:\n  script: x\n  rules:\n    - if: '$A ==='\n", "jobs:rspec:rules:rule if invalid expression syntax"},
		{"rules type", "rspec:\n  script: x\n  rules: {if: $A}\n", "jobs:rspec rules should be an array containing hashes and arrays of hashes"},
		{"rules when", "rspec:\n  script: x\n  rules:\n    - when: sometimes\n", "jobs:rspec:rules:rule when unknown value: sometimes"},
		{"rules changes type", "rspec:\n  script: x\n  rules:\n    - changes: a.txt\n", "jobs:rspec:rules:rule:changes should be an array or a hash"},
		{"rules changes paths missing", "rspec:\n  script: x\n  rules:\n    - changes: {compare_to: main}\n", "jobs:rspec:rules:rule:changes config missing required keys: paths"},
		{"rules changes unknown key", "rspec:\n  script: x\n  rules:\n    - changes: {paths: [a], base: main}\n", "jobs:rspec:rules:rule:changes config contains unknown keys: base"},
		{"rules changes paths", "rspec:\n  script: x\n  rules:\n    - changes: {paths: a}\n", "jobs:rspec:rules:rule:changes paths should be an array of strings"},
		{"rules changes compare_to", "rspec:\n  script: x\n  rules:\n    - changes: {paths: [a], compare_to: 1}\n", "jobs:rspec:rules:rule:changes compare to should be a string"},
		{"rules changes compare_to ref", "rspec:\n  script: x\n  rules:\n    - changes: {paths: [a], compare_to: nope}\n", "Failed to parse rule for rspec: rules:changes:compare_to is not a valid ref"},
		{"rules exists type", "rspec:\n  script: x\n  rules:\n    - exists: 1\n", "jobs:rspec:rules:rule:exists should be a string, an array of strings, or a hash"},
		{"rules exists array", "rspec:\n  script: x\n  rules:\n    - exists: [1]\n", "jobs:rspec:rules:rule:exists config should be an array of strings"},
		{"rules exists unknown key", "rspec:\n  script: x\n  rules:\n    - exists: {paths: [a], branch: b}\n", "jobs:rspec:rules:rule:exists config contains unknown keys: branch"},
		{"rules exists ref without project", "rspec:\n  script: x\n  rules:\n    - exists: {paths: [a], ref: main}\n", "jobs:rspec:rules:rule:exists config missing required keys: project"},
		{"rules exists project type", "rspec:\n  script: x\n  rules:\n    - exists: {paths: [a], project: 1}\n", "jobs:rspec:rules:rule:exists project should be a string"},
		{"manual_confirmation", "rspec:\n  script: x\n  when: manual\n  manual_confirmation: [a]\n", "jobs:rspec manual confirmation should be a string"},
		{"hooks type", "rspec:\n  script: x\n  hooks: echo\n", "jobs:rspec:hooks config should be a hash"},
		{"hooks unknown", "rspec:\n  script: x\n  hooks:\n    post_script: echo\n", "jobs:rspec:hooks config contains unknown keys: post_script"},
		{"hooks script", "rspec:\n  script: x\n  hooks:\n    pre_get_sources_script: 1\n", "jobs:rspec:hooks:pre_get_sources_script config should be a string or a nested array of strings up to 10 levels deep"},
		{"id_tokens type", "rspec:\n  script: x\n  id_tokens: [a]\n", "jobs:rspec:id_tokens config should be a hash"},
		{"id_token aud missing", "rspec:\n  script: x\n  id_tokens:\n    MY_TOKEN: {sub: x}\n", "jobs:rspec:id_tokens:my_token config missing required keys: aud"},
		{"id_token aud type", "rspec:\n  script: x\n  id_tokens:\n    T: {aud: 1}\n", "jobs:rspec:id_tokens:t aud should be an array of strings or a string"},
		{"pages type", "rspec:\n  script: x\n  pages: yes please\n", "jobs:rspec:pages config should be a hash or a boolean value"},
		{"pages unknown", "rspec:\n  script: x\n  pages: {root: x}\n", "jobs:rspec:pages config contains unknown keys: root"},
		{"pages expire_in", "rspec:\n  script: x\n  pages: {expire_in: 7 elephants}\n", "jobs:rspec:pages expire in should be a duration"},
		{"publish outside pages", "rspec:\n  script: x\n  publish: public\n", "jobs:rspec publish can only be used within a `pages` job"},
		{"release type", "rspec:\n  script: x\n  release: v1\n", "jobs:rspec:release config should be a hash"},
		{"release tag_name", "rspec:\n  script: x\n  release: {description: d}\n", "jobs:rspec:release tag name can't be blank"},
		{"release description", "rspec:\n  script: x\n  release: {tag_name: v1}\n", "jobs:rspec:release description can't be blank"},
		{"release unknown", "rspec:\n  script: x\n  release: {tag_name: v1, description: d, draft: true}\n", "jobs:rspec:release config contains unknown keys: draft"},
		{"release released_at", "rspec:\n  script: x\n  release: {tag_name: v1, description: d, released_at: soon}\n", "jobs:rspec:release released at must be a valid datetime"},
		{"run and script", "rspec:\n  script: x\n  run: [{name: a, script: b}]\n", "jobs:rspec config these keys cannot be used together: script, run"},
		{"run", "rspec:\n  run: [{name: a, script: b}]\n", "jobs:rspec run is not supported by this server: CI/CD steps need GitLab's step runner; use script"},
		{"environment tier", "rspec:\n  script: x\n  environment: {name: prod, deployment_tier: live}\n", "jobs:rspec:environment deployment tier must be one of production, staging, testing, development, other"},
		{"environment auto_stop_in", "rspec:\n  script: x\n  environment: {name: prod, auto_stop_in: later}\n", "jobs:rspec:environment auto stop in should be a duration"},
		{"environment kubernetes", "rspec:\n  script: x\n  environment: {name: prod, kubernetes: ns}\n", "jobs:rspec:environment kubernetes should be a hash"},
		{"rules unknown key", "rspec:\n  script: x\n  rules:\n    - iff: $A\n", "jobs:rspec:rules:rule config contains unknown keys: iff"},
		{"rules with only", "rspec:\n  script: x\n  only: [main]\n  rules:\n    - when: always\n", "jobs:rspec config key may not be used with `rules`: only"},
		{"rules with start_in", "rspec:\n  script: x\n  when: delayed\n  start_in: 1 hour\n  rules:\n    - when: always\n", "jobs:rspec config key may not be used with `rules`: start_in"},
		{"start_in without delayed", "rspec:\n  script: x\n  start_in: 1 hour\n", "jobs:rspec start in must be blank"},
		{"start_in over a week", "rspec:\n  script: x\n  when: delayed\n  start_in: 8 days\n", "jobs:rspec start in should not exceed the limit"},
		{"retry type", "rspec:\n  script: x\n  retry: [1]\n", "jobs:rspec:retry config has to be either an integer or a hash"},
		{"retry max", "rspec:\n  script: x\n  retry: 3\n", "jobs:rspec:retry config must be less than or equal to 2"},
		{"retry hash max", "rspec:\n  script: x\n  retry: {max: 5}\n", "jobs:rspec:retry max config must be less than or equal to 2"},
		{"retry when", "rspec:\n  script: x\n  retry: {max: 1, when: [bogus]}\n", "jobs:rspec:retry when contains unknown values: bogus"},
		{"timeout", "rspec:\n  script: x\n  timeout: forever\n", "jobs:rspec:timeout config should be a duration"},
		{"timeout limit", "rspec:\n  script: x\n  timeout: 2 months\n", "jobs:rspec:timeout config should not exceed the limit"},
		{"coverage", "rspec:\n  script: x\n  coverage: 'total: 100'\n", "jobs:rspec:coverage config must be a regular expression with re2 syntax"},
		{"lowercased in full", "RSpec_Job:\n  script: x\n  Bad: 1\n", "jobs:rspec_job config contains unknown keys: bad"},
		{"default unknown key", "default:\n  stage: build\nrspec:\n  script: x\n", "default config contains unknown keys: stage"},
		{"workflow rule when", "workflow:\n  rules:\n    - when: manual\nrspec:\n  script: x\n", "workflow:rules:rule when unknown value: manual"},
		{"bridge without trigger", "rspec:\n  needs: []\n", "jobs:rspec config should contain either a trigger or a needs:pipeline"},
		{"trigger include artifact", "gen:\n  stage: build\n  script: x\nchild:\n  trigger:\n    include:\n      - artifact: c.yml\n", "jobs:child:trigger:include config must specify the job where to fetch the artifact from"},
		{"reference not found", "a:\n  script: !reference [.x, script]\n", `!reference ["".x"", ""script""] could not be found`},
		{"reference circular", ".a:\n  script: !reference [.b, script]\n.b:\n  script: !reference [.a, script]\nj:\n  script: !reference [.a, script]\n", `is part of a circular chain`},
		// Logical errors.
		{"stage missing", "rspec:\n  stage: acceptance\n  script: x\n", "rspec job: chosen stage acceptance does not exist; available stages are .pre, build, test, deploy, .post"},
		{"default stage missing", "stages: [build]\nrspec:\n  script: x\n", "rspec job: chosen stage test does not exist; available stages are .pre, build, .post"},
		{"undefined dependency", "test1:\n  script: x\n  dependencies: [undefined]\n", "test1 job: undefined dependency: undefined"},
		{"undefined need", "test1:\n  script: x\n  needs: [undefined]\n", "test1 job: undefined need: undefined"},
		{"dependency later stage", "test1:\n  script: x\n  dependencies: [deploy]\ndeploy:\n  stage: deploy\n  script: x\n", "test1 job: dependency deploy is not defined in current or prior stages"},
		{"need later stage", "test1:\n  script: x\n  needs: [deploy]\ndeploy:\n  stage: deploy\n  script: x\n", "test1 job: need deploy is not defined in current or prior stages"},
		{"need duplicated", "build1:\n  stage: build\n  script: x\ntest1:\n  script: x\n  needs: [build1, build1]\n", "test1 has the following needs duplicated: build1."},
		{"circular needs", "job_a:\n  script: x\n  needs: [job_b]\njob_b:\n  script: x\n  needs: [job_c]\njob_c:\n  script: x\n  needs: [job_a]\n", `The pipeline has circular dependencies: topological sort failed: ["job_a", "job_b", "job_c"]`},
		{"self need", "job:\n  script: x\n  needs: [job]\n", "The pipeline has circular dependencies: self-dependency: job"},
		{"on_stop undefined", "deploy:\n  script: x\n  environment: {name: prod, on_stop: stop}\n", "deploy job: on_stop job stop is not defined"},
		{"on_stop no environment", "deploy:\n  script: x\n  environment: {name: prod, on_stop: stop}\nstop:\n  script: x\n", "deploy job: on_stop job stop does not have environment defined"},
		{"on_stop other environment", "deploy:\n  script: x\n  environment: {name: prod, on_stop: stop}\nstop:\n  script: x\n  environment: {name: staging, action: stop}\n", "deploy job: on_stop job stop have different environment name"},
		{"on_stop action", "deploy:\n  script: x\n  environment: {name: prod, on_stop: stop}\nstop:\n  script: x\n  environment: {name: prod}\n", "deploy job: on_stop job stop needs to have action stop defined"},
		// Includes.
		{"include missing", "include: nope.yml\nj:\n  script: x\n", "Local file `nope.yml` does not exist!"},
		{"include extension", "include: tooling.txt\nj:\n  script: x\n", "Included file `tooling.txt` does not have YAML extension!"},
		{"include empty", "include: {local: /empty.yml}\nj:\n  script: x\n", "Local file `empty.yml` is empty!"},
		{"include bad yaml", "include: bad.yml\nj:\n  script: x\n", "`bad.yml`: (<unknown>): mapping values are not allowed in this context at line 1 column 5"},
		{"include not a hash", "include: list.yml\nj:\n  script: x\n", "Included file `list.yml` does not have valid YAML syntax!"},
		{"include subkey", "include: [{file: a.yml}]\nj:\n  script: x\n", "`{\"file\":\"a.yml\"}` does not have a valid subkey for include. Valid subkeys are: `local`, `project`, `remote`, `template`, `artifact`, `component`"},
		{"include two subkeys", "include: [{local: a.yml, template: b.yml}]\nj:\n  script: x\n", "Each include must use only one of: `local`, `project`, `remote`, `template`, `artifact`, `component`"},
		{"include loop", "include: nested.yml\nj:\n  script: x\n", "Maximum of 150 nested includes are allowed!"},
		{"include input required", "include: inputs.yml\nk:\n  script: x\n", "`inputs.yml`: `env` input: required value has not been provided"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := Source{Content: []byte(tc.yaml), Ref: "main", PipelineSource: "push", ReadFile: mapReader(files)}
			_, err := Compile(context.Background(), src)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Compile error = %v, want *Error", err)
			}
			got := ce.Errors[0]
			want := strings.ReplaceAll(tc.want, `""`, `"`)
			if strings.HasPrefix(tc.want, "is part") {
				if !strings.Contains(got, want) {
					t.Fatalf("got %q, want it to contain %q", got, want)
				}
				return
			}
			if got != want {
				t.Fatalf("first error\n got: %q\nwant: %q\n all: %q", got, want, ce.Errors)
			}
		})
	}
}

func mapReader(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		s, ok := files[p]
		if !ok {
			return nil, errNotExist(p)
		}
		return []byte(s), nil
	}
}

package pipeline

import (
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
)

// PushOptions are the CI push options of one push (lib/gitlab/push_options.rb:
// namespace `ci`, keys skip, variable and input).
type PushOptions struct {
	// Skip is ci.skip: the pipeline is created as skipped.
	Skip bool
	// Variables come from ci.variable="KEY=value", in order; a later one
	// for the same key wins.
	Variables []ci.Variable
	// Inputs come from ci.input="name=value"; values are read as YAML
	// scalars or flow sequences (ciconfig.ParseInputValue).
	Inputs map[string]any
}

// ParsePushOptions reads `git push -o` options; unknown ones are ignored, as
// GitLab ignores them.
func ParsePushOptions(opts []string) PushOptions {
	var po PushOptions
	for _, o := range opts {
		key, val, _ := strings.Cut(o, "=")
		switch key {
		case "ci.skip":
			po.Skip = true
		case "ci.variable":
			k, v, ok := strings.Cut(val, "=")
			if !ok || k == "" {
				continue
			}
			po.Variables = append(po.Variables, ci.Variable{Key: k, Value: v, VariableType: "env_var"})
		case "ci.input":
			k, v, ok := strings.Cut(val, "=")
			if !ok || k == "" {
				continue
			}
			if po.Inputs == nil {
				po.Inputs = map[string]any{}
			}
			po.Inputs[k] = ciconfig.ParseInputValue(v)
		}
	}
	return po
}

package pipeline

import (
	"context"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/gitrepo"
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

// RefUpdate is one ref a push, or the API, changed.
type RefUpdate struct {
	Ref, OldSHA, NewSHA string
}

// PushPipelines creates a pipeline of source push for each branch or tag
// head the updates set, as GitLab's Git::BranchPushService and
// Git::TagPushService do after a git push and after a branch or tag is
// created through the API. A ref whose pipeline fails to be created is
// logged and the others go on.
func (s *Service) PushPipelines(ctx context.Context, p *ci.Project, userID int64, updates []RefUpdate, po PushOptions) {
	for _, u := range updates {
		if gitrepo.IsZeroSHA(u.NewSHA) {
			continue
		}
		ref, tag := "", false
		if b, ok := strings.CutPrefix(u.Ref, "refs/heads/"); ok {
			ref = b
		} else if tg, ok := strings.CutPrefix(u.Ref, "refs/tags/"); ok {
			ref, tag = tg, true
		} else {
			continue
		}
		pl, err := s.Create(ctx, CreateRequest{Project: p, Ref: ref, Tag: tag, RefKnown: true,
			SHA: u.NewSHA, BeforeSHA: u.OldSHA, Source: "push", UserID: userID, SaveOnErrors: true,
			SkipCI: po.Skip, Variables: po.Variables, Inputs: po.Inputs})
		if err != nil {
			s.log.Error("push: pipeline", "project", p.FullPath(), "ref", ref, "err", err)
			continue
		}
		if pl != nil {
			s.log.Info("pipeline created", "project", p.FullPath(), "ref", ref, "pipeline", pl.ID, "status", pl.Status)
		}
	}
}

package access

import (
	"context"
	"encoding/json"
	"regexp"

	"github.com/gantryci/gantry/internal/ci"
)

// Artifact access levels (artifacts:access in .gitlab-ci.yml).
const (
	ArtifactsAll       = "all"
	ArtifactsDeveloper = "developer"
	ArtifactsNone      = "none"
)

// jobDefinition is the part of a job's stored definition the policy reads.
type jobDefinition struct {
	Artifacts *struct {
		Public *bool  `json:"public"`
		Access string `json:"access"`
	} `json:"artifacts"`
	YAMLVariables []ci.Variable `json:"yaml_variables"`
}

func definition(j *ci.Job) jobDefinition {
	var d jobDefinition
	if len(j.Definition) > 0 {
		_ = json.Unmarshal(j.Definition, &d) // a definition that does not decode grants nothing extra
	}
	return d
}

// ArtifactsAccess is who may download the job's artifacts, from
// artifacts:access, or artifacts:public false meaning developer
// (Ci::JobArtifact#public_access?, #none_access?; the build's
// artifacts options).
func ArtifactsAccess(j *ci.Job) string {
	d := definition(j)
	switch {
	case d.Artifacts == nil:
		return ArtifactsAll
	case d.Artifacts.Access != "":
		return d.Artifacts.Access
	case d.Artifacts.Public != nil && !*d.Artifacts.Public:
		return ArtifactsDeveloper
	}
	return ArtifactsAll
}

// trueRe is Gitlab::Utils.to_boolean's true.
var trueRe = regexp.MustCompile(`(?i)^(true|t|yes|y|1|on)$`)

// DebugMode is Ci::Build#debug_mode?: CI_DEBUG_TRACE or CI_DEBUG_SERVICES
// true in the job's effective variables (configuration, project, pipeline,
// then play-time variables, the later winning).
func (p *Policy) DebugMode(ctx context.Context, j *ci.Job) (bool, error) {
	vals := map[string]string{}
	for _, v := range definition(j).YAMLVariables {
		vals[v.Key] = v.Value
	}
	pvs, err := p.st.ListProjectVariables(ctx, j.ProjectID)
	if err != nil {
		return false, err
	}
	for _, v := range pvs {
		vals[v.Key] = v.Value
	}
	if pl, err := p.st.PipelineByID(ctx, j.PipelineID); err == nil {
		for _, v := range pl.Variables {
			vals[v.Key] = v.Value
		}
	}
	for _, v := range j.JobVariables {
		vals[v.Key] = v.Value
	}
	return trueRe.MatchString(vals["CI_DEBUG_TRACE"]) || trueRe.MatchString(vals["CI_DEBUG_SERVICES"]), nil
}

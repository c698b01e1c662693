package ci

import "strings"

// PushPipelineLimit is how many ref updates of one push may create
// pipelines: GitLab's Git::ProcessRefChangesService::PIPELINE_PROCESS_LIMIT
// (the git_push_pipeline_limit setting, 4 by default). Updates past it are
// accepted without a pipeline.
const PushPipelineLimit = 4

// PushPipelineRefs picks the updates of one push that create pipelines, by
// their index among the push's branch and tag updates: index below
// PushPipelineLimit, and not a deletion (GitLab creates no pipeline for a
// removed ref, but a deletion still takes its index, as in
// ProcessRefChangesService#under_process_limit?). It returns the indexes
// into changes of those updates and of the branch and tag updates the
// limit left without a pipeline (GitLab logs the latter as
// "possible_omitted_refs").
func PushPipelineRefs(changes []RefChange) (create, omitted []int) {
	index := 0
	for i, c := range changes {
		if !strings.HasPrefix(c.Ref, "refs/heads/") && !strings.HasPrefix(c.Ref, "refs/tags/") {
			continue
		}
		switch {
		case index >= PushPipelineLimit:
			if !c.Delete {
				omitted = append(omitted, i)
			}
		case !c.Delete:
			create = append(create, i)
		}
		index++
	}
	return create, omitted
}

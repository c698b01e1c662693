package ciconfig

import (
	"slices"
	"strings"
)

// AutoCancel is workflow:auto_cancel, or the auto_cancel of the workflow
// rule that matched (whose keys win, key by key: GitLab's
// Chain::PopulateMetadata#set_auto_cancel). Unset keys are "".
type AutoCancel struct {
	OnNewCommit  string `json:"on_new_commit,omitempty"`
	OnJobFailure string `json:"on_job_failure,omitempty"`
}

// The values Ci::PipelineMetadata's enums accept, in their order (GitLab's
// error lists them so).
var (
	onNewCommitValues  = []string{"conservative", "interruptible", "none"}
	onJobFailureValues = []string{"none", "all"}
)

// autoCancel validates an auto_cancel hash at loc (workflow:auto_cancel or
// a workflow rule's) as Gitlab::Ci::Config::Entry::AutoCancel does.
func (v *validator) autoCancel(loc string, val any) (*AutoCancel, bool) {
	h, ok := val.(*omap)
	if !ok {
		v.add(loc, "config should be a hash")
		return nil, false
	}
	if bad := unknownKeys(h, []string{"on_new_commit", "on_job_failure"}); len(bad) > 0 {
		v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
		return nil, false
	}
	ac := &AutoCancel{}
	good := true
	for _, f := range []struct {
		key    string
		values []string
		dst    *string
	}{
		{"on_new_commit", onNewCommitValues, &ac.OnNewCommit},
		{"on_job_failure", onJobFailureValues, &ac.OnJobFailure},
	} {
		x, has := h.get(f.key)
		if !has || x == nil {
			continue
		}
		s, isStr := x.(string)
		switch {
		case !isStr:
			v.add(loc, "%s should be a string", humanize(f.key))
			good = false
		case !slices.Contains(f.values, s):
			v.add(loc, "%s must be one of: %s", humanize(f.key), strings.Join(f.values, ", "))
			good = false
		default:
			*f.dst = s
		}
	}
	return ac, good
}

// merge lays the keys set in over onto a copy of ac.
func (ac *AutoCancel) merge(over *AutoCancel) *AutoCancel {
	out := AutoCancel{}
	if ac != nil {
		out = *ac
	}
	if over != nil {
		if over.OnNewCommit != "" {
			out.OnNewCommit = over.OnNewCommit
		}
		if over.OnJobFailure != "" {
			out.OnJobFailure = over.OnJobFailure
		}
	}
	if out == (AutoCancel{}) {
		return nil
	}
	return &out
}

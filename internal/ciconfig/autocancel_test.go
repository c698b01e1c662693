package ciconfig

import (
	"context"
	"errors"
	"testing"
)

// TestAutoCancel: workflow:auto_cancel and a matching workflow rule's
// auto_cancel (whose keys win) end up in the plan; bad values fail with
// GitLab's messages (Gitlab::Ci::Config::Entry::AutoCancel).
func TestAutoCancel(t *testing.T) {
	t.Parallel()
	const job = "j:\n  script: x\n"
	for _, tc := range []struct {
		name, yaml string
		want       *AutoCancel
		err        string
	}{
		{"unset", job, nil, ""},
		{"both", "workflow:\n  auto_cancel:\n    on_new_commit: interruptible\n    on_job_failure: all\n" + job,
			&AutoCancel{OnNewCommit: "interruptible", OnJobFailure: "all"}, ""},
		{"rule overrides a key", "workflow:\n  auto_cancel:\n    on_new_commit: none\n    on_job_failure: all\n" +
			"  rules:\n    - if: $NOPE == \"x\"\n      auto_cancel:\n        on_new_commit: none\n" +
			"    - when: always\n      auto_cancel:\n        on_new_commit: interruptible\n" + job,
			&AutoCancel{OnNewCommit: "interruptible", OnJobFailure: "all"}, ""},
		{"rule that did not match", "workflow:\n  rules:\n    - if: $CI_COMMIT_REF_NAME == \"other\"\n      auto_cancel:\n" +
			"        on_job_failure: all\n    - when: always\n" + job, nil, ""},
		{"bad on_new_commit", "workflow:\n  auto_cancel:\n    on_new_commit: always\n" + job, nil,
			"workflow:auto_cancel on new commit must be one of: conservative, interruptible, none"},
		{"bad on_job_failure", "workflow:\n  auto_cancel:\n    on_job_failure: some\n" + job, nil,
			"workflow:auto_cancel on job failure must be one of: none, all"},
		{"unknown key", "workflow:\n  auto_cancel:\n    on_push: none\n" + job, nil,
			"workflow:auto_cancel config contains unknown keys: on_push"},
		{"not a hash", "workflow:\n  auto_cancel: all\n" + job, nil, "workflow:auto_cancel config should be a hash"},
		{"in a rule", "workflow:\n  rules:\n    - auto_cancel:\n        on_job_failure: [all]\n" + job, nil,
			"workflow:rules:rule:auto_cancel on job failure should be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plan, err := Compile(context.Background(), Source{Content: []byte(tc.yaml), Ref: "main", PipelineSource: "push"})
			if tc.err != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Errors[0] != tc.err {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == nil && plan.AutoCancel != nil:
				t.Fatalf("auto_cancel = %+v, want none", *plan.AutoCancel)
			case tc.want != nil && (plan.AutoCancel == nil || *plan.AutoCancel != *tc.want):
				t.Fatalf("auto_cancel = %+v, want %+v", plan.AutoCancel, *tc.want)
			}
		})
	}
}

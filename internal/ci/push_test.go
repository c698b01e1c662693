package ci

import (
	"fmt"
	"slices"
	"testing"
)

func TestPushPipelineRefs(t *testing.T) {
	branch := func(n int) RefChange { return RefChange{Ref: fmt.Sprintf("refs/heads/b%02d", n)} }
	tests := []struct {
		name          string
		changes       []RefChange
		create, omits []int
	}{
		{"one branch", []RefChange{branch(0)}, []int{0}, nil},
		{"ten branches: four pipelines", []RefChange{branch(0), branch(1), branch(2), branch(3), branch(4), branch(5),
			branch(6), branch(7), branch(8), branch(9)}, []int{0, 1, 2, 3}, []int{4, 5, 6, 7, 8, 9}},
		{"a deletion takes its index", []RefChange{{Ref: "refs/heads/gone", Delete: true}, branch(1), branch(2), branch(3),
			branch(4)}, []int{1, 2, 3}, []int{4}},
		{"tags count as refs", []RefChange{{Ref: "refs/tags/v1"}, branch(1)}, []int{0, 1}, nil},
		{"other refs neither count nor create", []RefChange{{Ref: "refs/notes/commits"}, branch(1)}, []int{1}, nil},
		{"deletion past the limit is not omitted", []RefChange{branch(0), branch(1), branch(2), branch(3),
			{Ref: "refs/heads/x", Delete: true}}, []int{0, 1, 2, 3}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			create, omits := PushPipelineRefs(tc.changes)
			if !slices.Equal(create, tc.create) || !slices.Equal(omits, tc.omits) {
				t.Errorf("PushPipelineRefs = %v, %v; want %v, %v", create, omits, tc.create, tc.omits)
			}
		})
	}
}

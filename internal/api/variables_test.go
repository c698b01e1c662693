package api_test

import (
	"github.com/gantryci/gantry/internal/testkit"
	"strconv"
	"testing"
)

// TestCreateMaskedVariable: GitLab refuses a masked value runners cannot
// mask safely (Ci::Maskable); gitlab-runner 14.10 crashes on an empty one
// and any runner masks every occurrence of a short one in job logs.
func TestCreateMaskedVariable(t *testing.T) { testkit.ForEachDB(t, testCreateMaskedVariable) }

func testCreateMaskedVariable(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	path := "/projects/" + strconv.FormatInt(e.proj.ID, 10) + "/variables"
	tests := []struct {
		key, value string
		raw        bool
		status     int
	}{
		{"EMPTY", "", false, 400},
		{"SHORT", "ab", false, 400},
		{"SPACES", "has some spaces", false, 400},
		{"DOLLAR", "pa$$word-long", false, 400},
		{"DOLLAR_RAW", "pa$$word-long", true, 201},
		{"SPACES_RAW", "has some spaces", true, 400},
		{"GOOD", "hunter2-s3cr3t@x:y.z~", false, 201},
	}
	for _, tt := range tests {
		r := e.do("POST", path, "maint", map[string]any{"key": tt.key, "value": tt.value, "masked": true, "raw": tt.raw})
		if tt.status == 400 {
			r.want(t, 400, `{"message":{"value":["is invalid"]}}`)
		} else {
			r.want(t, tt.status, "")
		}
	}
	e.do("POST", path, "maint", map[string]any{"key": "UNMASKED_SHORT", "value": "ab"}).want(t, 201, "")
}

package runnerproto

import "encoding/json"

// The runner → server side: what a runner sends. The server reads request
// parameters leniently (old runners send forms), but the `info` object and
// the bodies the built-in runner sends are declared once, here.

// Info is the `info` object a runner sends with registration, verify,
// jobs/request and every job update (gitlab-runner's common.VersionInfo).
// Every field is optional: old runners and builds without release ldflags
// leave some empty.
type Info struct {
	Name         string         `json:"name"`
	Version      string         `json:"version"`
	Revision     string         `json:"revision"`
	Platform     string         `json:"platform"`
	Architecture string         `json:"architecture"`
	Executor     string         `json:"executor"`
	Shell        string         `json:"shell"`
	Features     FeaturesInfo   `json:"features"`
	Config       map[string]any `json:"config,omitempty"`
}

// FeaturesInfo is gitlab-runner's FeaturesInfo: what the runner supports.
// Decoding keeps the Boolean entries and skips others, so an unexpected
// value does not cost the whole info object.
type FeaturesInfo map[string]bool

// UnmarshalJSON decodes an object, keeping its Boolean members.
func (f *FeaturesInfo) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(FeaturesInfo, len(raw))
	for k, v := range raw {
		if b, ok := v.(bool); ok {
			out[k] = b
		}
	}
	*f = out
	return nil
}

// Enabled is the set of features reported as true, nil when none is.
func (f FeaturesInfo) Enabled() map[string]bool {
	var out map[string]bool
	for k, v := range f {
		if v {
			if out == nil {
				out = map[string]bool{}
			}
			out[k] = true
		}
	}
	return out
}

// JobRequest is the body of POST /api/v4/jobs/request.
type JobRequest struct {
	Info       Info   `json:"info"`
	Token      string `json:"token"`
	SystemID   string `json:"system_id"`
	LastUpdate string `json:"last_update,omitempty"`
}

// JobUpdate is the body of PUT /api/v4/jobs/:id: a touch (state running)
// or the final state.
type JobUpdate struct {
	Info          Info        `json:"info"`
	Token         string      `json:"token"`
	State         string      `json:"state"`
	FailureReason string      `json:"failure_reason,omitempty"`
	Checksum      string      `json:"checksum,omitempty"`
	Output        TraceOutput `json:"output"`
	ExitCode      int         `json:"exit_code,omitempty"`
}

// TraceOutput is the output object of a job update: what the runner holds
// of the log, so the server can tell whether it has all of it.
type TraceOutput struct {
	Checksum string `json:"checksum,omitempty"`
	Bytesize int    `json:"bytesize,omitempty"`
}

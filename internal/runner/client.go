package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/runnerproto"
)

// Header names of the runner protocol (docs/runner-protocol.md, "Headers").
const (
	headerRunnerToken    = "RUNNER-TOKEN"
	headerJobToken       = "JOB-TOKEN"
	headerJobStatus      = "Job-Status"
	headerUpdateInterval = "X-GitLab-Trace-Update-Interval"
	headerLastUpdate     = "X-GitLab-Last-Update"
)

// maxUpdateInterval caps X-GitLab-Trace-Update-Interval like gitlab-runner.
const maxUpdateInterval = 15 * time.Minute

// client speaks the runner half of GitLab's runner HTTP API.
type client struct {
	base      string // ends in /api/v4/
	token     string
	systemID  string
	info      runnerproto.Info
	http      *http.Client
	userAgent string

	mu         sync.Mutex
	lastUpdate string
}

// fixURL normalises the configured URL as gitlab-runner's fixCIURL does:
// trailing slashes and a trailing /ci are dropped.
func fixURL(raw string) (string, error) {
	u := strings.TrimRight(strings.TrimSpace(raw), "/")
	u = strings.TrimSuffix(u, "/ci")
	u = strings.TrimRight(u, "/")
	parsed, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("parse runner url %q: %w", raw, err)
	}
	if parsed.Scheme != "http" && parsed.Scheme != "https" {
		return "", fmt.Errorf("runner url %q: only http and https are supported", raw)
	}
	if parsed.Host == "" {
		return "", fmt.Errorf("runner url %q: missing host", raw)
	}
	return u, nil
}

// shellFeatures is the feature set of gitlab-runner's FeaturesInfo, with
// true only for what this runner really implements. All keys are always
// present, as gitlab-runner sends them.
func shellFeatures() runnerproto.FeaturesInfo {
	return runnerproto.FeaturesInfo{
		"variables":                 true,
		"image":                     false,
		"services":                  false,
		"artifacts":                 true,
		"cache":                     false, // no cache support yet
		"fallback_cache_keys":       false,
		"shared":                    true,
		"upload_multiple_artifacts": true,
		"upload_raw_artifacts":      true,
		"session":                   false,
		"terminal":                  false,
		"refspecs":                  true,
		"masking":                   true,
		"proxy":                     false,
		"raw_variables":             true,
		"artifacts_exclude":         true,
		"multi_build_steps":         true,
		"trace_reset":               true,
		"trace_checksum":            true,
		"trace_size":                true,
		"vault_secrets":             false,
		"cancelable":                true,
		"return_exit_code":          true,
		"service_variables":         false,
		"service_multiple_aliases":  false,
		"image_executor_opts":       false,
		"service_executor_opts":     false,
		"cancel_gracefully":         true,
		"native_steps_integration":  false,
		"two_phase_job_commit":      true,
		"job_inputs":                false,
	}
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newRequest builds a request against the API base with the headers every
// runner call carries.
func (c *client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("X-Request-Id", newRequestID())
	return req, nil
}

func isJSON(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// drain discards a bounded amount of the body so the connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// requestJobResult distinguishes the outcomes of a poll.
type requestJobResult int

const (
	pollNoJob requestJobResult = iota
	pollJob
	pollForbidden
	pollError
)

// requestJob polls for a job. A job whose payload does not decode is
// returned as a partial job (id and token only) together with an error so
// that the caller can fail it instead of silently dropping it.
func (c *client) requestJob(ctx context.Context) (*Job, requestJobResult, error) {
	c.mu.Lock()
	body := runnerproto.JobRequest{Info: c.info, Token: c.token, SystemID: c.systemID, LastUpdate: c.lastUpdate}
	c.mu.Unlock()
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, pollError, fmt.Errorf("encode job request: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, "jobs/request", bytes.NewReader(buf))
	if err != nil {
		return nil, pollError, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(headerRunnerToken, c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, pollError, fmt.Errorf("request job: %w", err)
	}
	if lu := resp.Header.Get(headerLastUpdate); lu != "" {
		c.mu.Lock()
		c.lastUpdate = lu
		c.mu.Unlock()
	}
	switch resp.StatusCode {
	case http.StatusCreated:
		defer drain(resp)
		if !isJSON(resp) {
			return nil, pollError, fmt.Errorf("request job: 201 with Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return nil, pollError, fmt.Errorf("read job payload: %w", err)
		}
		var job Job
		if err := json.Unmarshal(raw, &job); err != nil {
			// Salvage id and token so the job can be failed visibly.
			var partial struct {
				ID    int64  `json:"id"`
				Token string `json:"token"`
			}
			if json.Unmarshal(raw, &partial) == nil && partial.ID != 0 && partial.Token != "" {
				return &Job{ID: partial.ID, Token: partial.Token}, pollJob, fmt.Errorf("decode job payload: %w", err)
			}
			return nil, pollError, fmt.Errorf("decode job payload: %w", err)
		}
		return &job, pollJob, nil
	case http.StatusNoContent, http.StatusServiceUnavailable:
		drain(resp)
		return nil, pollNoJob, nil
	case http.StatusForbidden:
		drain(resp)
		return nil, pollForbidden, fmt.Errorf("request job: 403 Forbidden (runner token rejected)")
	default:
		drain(resp)
		return nil, pollError, fmt.Errorf("request job: unexpected status %s", resp.Status)
	}
}

// remoteState is what the server told us about the job in a PUT or PATCH
// answer.
type remoteState int

const (
	remoteRunning remoteState = iota
	remoteCanceling
	remoteAbort // canceled, failed, 403 or 404: stop at once
)

// readRemoteState interprets Job-Status and the status code as
// gitlab-runner's network/remote_job_state_response.go does
// (docs/runner-protocol.md, "Acceptance and final update").
func readRemoteState(resp *http.Response) remoteState {
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
		return remoteAbort
	}
	switch resp.Header.Get(headerJobStatus) {
	case "canceling":
		return remoteCanceling
	case "canceled", "failed":
		return remoteAbort
	}
	return remoteRunning
}

// readInterval parses X-GitLab-Trace-Update-Interval; 0 means "no change".
func readInterval(resp *http.Response) time.Duration {
	v, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get(headerUpdateInterval)))
	if err != nil || v <= 0 {
		return 0
	}
	return min(time.Duration(v)*time.Second, maxUpdateInterval)
}

// updateResult is the interpreted answer to a PUT or PATCH.
type updateResult struct {
	status   int // HTTP status, 0 on transport error
	state    remoteState
	interval time.Duration
	rangeEnd int // PATCH only: end of the server's Range header, -1 if absent
}

func (c *client) updateJob(ctx context.Context, jobID int64, jobToken string, u runnerproto.JobUpdate) (updateResult, error) {
	u.Info = c.info
	u.Token = jobToken
	buf, err := json.Marshal(u)
	if err != nil {
		return updateResult{}, fmt.Errorf("encode job update: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPut, "jobs/"+strconv.FormatInt(jobID, 10), bytes.NewReader(buf))
	if err != nil {
		return updateResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerJobToken, jobToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return updateResult{}, fmt.Errorf("update job %d: %w", jobID, err)
	}
	defer drain(resp)
	return updateResult{status: resp.StatusCode, state: readRemoteState(resp), interval: readInterval(resp), rangeEnd: -1}, nil
}

// patchTrace sends trace bytes starting at offset start.
func (c *client) patchTrace(ctx context.Context, jobID int64, jobToken string, start int, data []byte) (updateResult, error) {
	req, err := c.newRequest(ctx, http.MethodPatch, "jobs/"+strconv.FormatInt(jobID, 10)+"/trace?debug_trace=false", bytes.NewReader(data))
	if err != nil {
		return updateResult{}, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set(headerJobToken, jobToken)
	// No unit and an inclusive end, exactly as gitlab-runner sends it.
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+len(data)-1))
	resp, err := c.http.Do(req)
	if err != nil {
		return updateResult{}, fmt.Errorf("patch trace of job %d: %w", jobID, err)
	}
	defer drain(resp)
	return updateResult{
		status:   resp.StatusCode,
		state:    readRemoteState(resp),
		interval: readInterval(resp),
		rangeEnd: parseRangeEnd(resp.Header.Get("Range")),
	}, nil
}

// parseRangeEnd returns N from "0-N" (optionally with a "bytes " unit), or -1.
func parseRangeEnd(h string) int {
	h = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h), "bytes"))
	h = strings.TrimPrefix(h, "=")
	_, end, ok := strings.Cut(h, "-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(end))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func userAgent(version, revision string) string {
	return fmt.Sprintf("gantry-runner %s (%s; %s; %s/%s)", version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

package web

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
)

// funcs are the helpers templates may call.
var funcs = template.FuncMap{
	"shortSHA": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
	"statusText":  statusText,
	"statusClass": func(s ci.Status) string { return "st-" + string(s) },
	"icon":        statusIcon,
	"duration":    fmtDuration,
	"since":       since,
	"isoTime": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"pathEscape": url.PathEscape,
	// pathEscapeAll escapes each segment of a slash-separated path.
	"pathEscapeAll": func(p string) string {
		parts := strings.Split(p, "/")
		for i, s := range parts {
			parts[i] = url.PathEscape(s)
		}
		return strings.Join(parts, "/")
	},
	"parentDir": func(p string) string {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			return p[:i]
		}
		return ""
	},
	"bytes":        fmtBytes,
	"runnerStatus": func(st string) string { return strings.ReplaceAll(st, "_", " ") },
	"queryEscape":  url.QueryEscape,
	"failureText":  failureText,
	"join":         strings.Join,
	"deref": func(f *float64) float64 {
		if f == nil {
			return 0
		}
		return *f
	},
}

// statusText is the label GitLab shows for a status.
func statusText(s ci.Status) string {
	switch s {
	case ci.StatusSuccess:
		return "passed"
	case ci.StatusCanceled:
		return "canceled"
	case ci.StatusCreated:
		return "created"
	case ci.StatusScheduled:
		return "delayed"
	}
	return string(s)
}

// statusIcon is an inline SVG badge icon for a status (no external icons).
func statusIcon(s ci.Status) template.HTML {
	var path string
	switch s {
	case ci.StatusSuccess:
		path = `<path d="M4.5 8.2l2.3 2.3 4.7-4.9" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>`
	case ci.StatusFailed:
		path = `<path d="M5.3 5.3l5.4 5.4M10.7 5.3l-5.4 5.4" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>`
	case ci.StatusRunning:
		path = `<path d="M8 3.5a4.5 4.5 0 0 1 0 9z" fill="currentColor"/>`
	case ci.StatusPending, ci.StatusScheduled, ci.StatusPreparing, ci.StatusWaitingForResource:
		path = `<path d="M6 5v6M10 5v6" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>`
	case ci.StatusCanceled, ci.StatusCanceling:
		path = `<path d="M4.8 11.2l6.4-6.4" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>`
	case ci.StatusSkipped:
		path = `<path d="M5 5l3 3-3 3M8.5 5l3 3-3 3" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round"/>`
	case ci.StatusManual:
		path = `<path d="M6.3 4.8v6.4L11.2 8z" fill="currentColor"/>`
	default:
		path = `<circle cx="8" cy="8" r="2" fill="currentColor"/>`
	}
	return template.HTML(`<svg class="ci-icon st-` + string(s) + `" viewBox="0 0 16 16" width="16" height="16" aria-label="` +
		statusText(s) + `"><circle cx="8" cy="8" r="7" fill="none" stroke="currentColor" stroke-width="1.5"/>` + path + `</svg>`)
}

// fmtDuration prints 1h 2m 3s, 2m 3s or 3s.
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %dm %ds", h, m, sec)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}

// since prints a time as "3 minutes ago".
func since(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	}
	return plural(int(d.Hours()/24), "day") + " ago"
}

func plural(n int, w string) string {
	if n == 1 {
		return "1 " + w
	}
	return fmt.Sprintf("%d %ss", n, w)
}

// failureText is GitLab's sentence for a failure reason
// (app/presenters/commit_status_presenter.rb CALLOUT_FAILURE_MESSAGES).
func failureText(reason string) string {
	switch reason {
	case ci.FailureUnknown, "":
		return "There is an unknown failure, please try again"
	case ci.FailureScript:
		return "The script exited with a non-zero code"
	case ci.FailureAPI:
		return "There has been an API failure, please try again"
	case ci.FailureStuckOrTimeout:
		return "There has been a timeout failure or the job got stuck. Check your timeout limits or try again"
	case ci.FailureRunnerSystem:
		return "There has been a runner system failure, please try again"
	case ci.FailureMissingDependency:
		return "There has been a missing dependency failure"
	case ci.FailureRunnerUnsupported:
		return "Your runner is outdated, please upgrade your runner"
	case ci.FailureStaleSchedule:
		return "Delayed job could not be executed by some reason, please try again"
	case ci.FailureJobExecutionTimeout:
		return "The script exceeded the maximum execution time set for the job"
	case ci.FailureArchived:
		return "The job is archived and cannot be run"
	case ci.FailureUnmetPrerequisites:
		return "The job failed to complete prerequisite tasks"
	case ci.FailureScheduler:
		return "The scheduler failed to assign job to the runner, please try again or contact system administrator"
	case ci.FailureDataIntegrity:
		return "There has been a structural integrity problem detected, please contact system administrator"
	case ci.FailureNoMatchingRunner:
		return "No matching runner available"
	case ci.FailureTraceSizeExceeded:
		return "The job log size limit was reached"
	case ci.FailureJobExecutionServerTimeout:
		return "The job exceeded the maximum execution time set on the server"
	case ci.FailureRunnerInterrupted:
		return "The runner was interrupted while running the job"
	case ci.FailurePipelineLoopDetected:
		return "This job could not be executed because it would create infinitely looping pipelines"
	case ci.FailureReachedMaxDescendantDepth:
		return "You reached the maximum depth of child pipelines"
	case ci.FailureDownstreamPipelineCreation:
		return "The downstream pipeline could not be created"
	case ci.FailureInsufficientBridgePermissions:
		return "This job could not be executed because of insufficient permissions to create a downstream pipeline"
	}
	return strings.ReplaceAll(reason, "_", " ")
}

// fmtBytes is a size for people: 512 B, 1.5 KiB, 3.2 MiB.
func fmtBytes(n any) string {
	var v float64
	switch x := n.(type) {
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case int:
		v = float64(x)
	}
	if v < 1024 {
		return fmt.Sprintf("%.0f B", v)
	}
	for _, unit := range []string{"KiB", "MiB", "GiB"} {
		v /= 1024
		if v < 1024 || unit == "GiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return ""
}

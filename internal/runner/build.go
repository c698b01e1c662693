package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/runnerproto"
)

// ANSI sequences gitlab-runner uses in traces.
const (
	ansiBoldCyan   = "\x1b[36;1m"
	ansiBoldGreen  = "\x1b[32;1m"
	ansiBoldRed    = "\x1b[31;1m"
	ansiYellow     = "\x1b[0;33m"
	ansiReset      = "\x1b[0;m"
	ansiClear      = "\x1b[0K"
	defaultTimeout = 2 * time.Hour // used when runner_info.timeout ≤ 0
)

// Causes that stop a job's scripts; context.Cause tells them apart.
var (
	errCanceled = errors.New("canceled")
	errAborted  = errors.New("aborted by the server")
	errShutdown = errors.New("runner shutting down")
	errTimeout  = errors.New("execution timeout")
)

// jobRun is one job from acceptance to final update.
type jobRun struct {
	r      *runner
	job    *Job
	slot   int
	log    *slog.Logger
	trace  *traceBuffer
	sender *traceSender

	// reportCtx ends only on abort; it carries the final update, which is
	// due even while the runner shuts down.
	reportCtx context.Context
	abort     context.CancelCauseFunc
	// hardCtx also ends on shutdown; after_script and uploads use it.
	hardCtx    context.Context
	hardCancel context.CancelCauseFunc
	// scriptCtx also ends on a graceful cancel or the job timeout.
	scriptCtx    context.Context
	cancelScript context.CancelCauseFunc

	timeout    time.Duration
	projectDir string
	tmpDir     string
	vars       []Variable // job variables, expanded, then runner variables
	env        []string

	cancelOnce sync.Once
}

// outcome is what the final PUT reports.
type outcome struct {
	failed   bool
	reason   string
	exitCode int
	message  string // the "ERROR: Job failed: …" suffix
}

func (r *runner) runJob(runCtx context.Context, slot int, job *Job, decodeErr error) {
	j := &jobRun{r: r, job: job, slot: slot, log: r.log.With("job", job.ID)}
	j.reportCtx, j.abort = context.WithCancelCause(context.WithoutCancel(runCtx))
	j.hardCtx, j.hardCancel = context.WithCancelCause(j.reportCtx)
	stopShutdown := context.AfterFunc(runCtx, func() { j.hardCancel(errShutdown) })
	defer stopShutdown()
	j.scriptCtx, j.cancelScript = context.WithCancelCause(j.hardCtx)
	defer j.cancelScript(nil)
	defer j.abort(nil)

	j.timeout = time.Duration(job.RunnerInfo.Timeout) * time.Second
	if j.timeout <= 0 {
		j.timeout = defaultTimeout
	}
	j.trace = newTraceBuffer(newMasker(j.secrets(), append(append([]string{}, defaultTokenPrefixes...), job.Features.TokenMaskPrefixes...)), r.cfg.outputLimit)
	j.sender = newTraceSender(r.c, job, j.trace, j.log, r.cfg.traceInterval, r.cfg.forceSend)
	j.sender.onAbort = func() { j.abort(errAborted) }
	j.sender.onCancel = func() {
		j.cancelOnce.Do(func() {
			j.log.Info("job cancel requested by the server")
			j.cancelScript(errCanceled)
		})
	}
	j.log.Info("job received", "name", job.JobInfo.Name, "project_id", job.JobInfo.ProjectID)

	// Acceptance (docs/runner-protocol.md, "Acceptance and final update"):
	// anything but an abort lets the job run.
	res, err := r.c.updateJob(j.reportCtx, job.ID, job.Token, runnerproto.JobUpdate{State: "running"})
	if err != nil {
		j.log.Warn("accepting job failed; running it anyway", "err", err)
	} else {
		j.sender.observe(res)
	}
	if j.aborted() {
		j.log.Info("job aborted by the server at acceptance")
		return
	}

	var out outcome
	switch {
	case decodeErr != nil:
		j.header()
		fmt.Fprintf(j.trace, "%sERROR: Preparation failed: %v%s\n", ansiBoldRed, decodeErr, ansiReset)
		out = outcome{failed: true, reason: reasonSystemFailure, message: fmt.Sprintf("(system failure): %v", decodeErr)}
	case j.scriptCtx.Err() != nil:
		j.header()
		out = j.classify(j.scriptCtx.Err(), j.scriptCtx)
	default:
		go j.sender.run(j.reportCtx)
		timer := time.AfterFunc(j.timeout, func() { j.cancelScript(errTimeout) })
		out = j.execute()
		timer.Stop()
		j.sender.stopLoop()
	}
	if j.aborted() {
		j.log.Info("job aborted by the server")
		j.cleanup(false)
		return
	}
	if out.failed {
		// gitlab-runner words system failures "Job failed (system failure): …".
		sep := ": "
		if strings.HasPrefix(out.message, "(") {
			sep = " "
		}
		fmt.Fprintf(j.trace, "%sERROR: Job failed%s%s%s\n", ansiBoldRed, sep, out.message, ansiReset)
	} else {
		fmt.Fprintf(j.trace, "%sJob succeeded%s\n", ansiBoldGreen, ansiReset)
	}
	j.trace.finish()
	j.finalUpdate(runCtx, out)
	j.log.Info("job finished", "failed", out.failed, "reason", out.reason)
}

func (j *jobRun) aborted() bool { return j.reportCtx.Err() != nil }

// secrets lists every value that must never reach the trace.
func (j *jobRun) secrets() []string {
	s := []string{j.job.Token, j.r.cfg.Token}
	for _, v := range j.job.Variables {
		if v.Masked {
			s = append(s, v.Value)
		}
	}
	for _, d := range j.job.Dependencies {
		s = append(s, d.Token)
	}
	return s
}

// header writes gitlab-runner's opening lines.
func (j *jobRun) header() {
	fmt.Fprintf(j.trace, "%sRunning with gantry-runner %s (%s)%s\n", ansiClear, Version, Revision, ansiReset)
	fmt.Fprintf(j.trace, "%s  on %s %s, system ID: %s%s\n", ansiClear, j.r.cfg.Name, j.r.shortToken, j.r.systemID, ansiReset)
}

// section opens a collapsible trace section and returns its closer.
func (j *jobRun) section(name, title string) func() {
	fmt.Fprintf(j.trace, "section_start:%d:%s\r%s%s%s%s%s\n", time.Now().Unix(), name, ansiClear, ansiClear, ansiBoldCyan, title, ansiReset)
	return func() {
		fmt.Fprintf(j.trace, "section_end:%d:%s\r%s", time.Now().Unix(), name, ansiClear)
	}
}

func (j *jobRun) printf(format string, args ...any) {
	fmt.Fprintf(j.trace, "%s"+format+"%s\n", append(append([]any{ansiClear}, args...), ansiReset)...)
}

func (j *jobRun) warnf(format string, args ...any) {
	fmt.Fprintf(j.trace, "%sWARNING: "+format+"%s\n", append(append([]any{ansiYellow}, args...), ansiReset)...)
}

func (j *jobRun) errorf(format string, args ...any) {
	fmt.Fprintf(j.trace, "%sERROR: "+format+"%s\n", append(append([]any{ansiBoldRed}, args...), ansiReset)...)
}

// classify turns a stage error into the job outcome, looking first at why
// ctx ended, if it did.
func (j *jobRun) classify(err error, ctx context.Context) outcome {
	if ctx.Err() != nil {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errCanceled):
			return outcome{failed: true, reason: reasonJobCanceled, message: "canceled"}
		case errors.Is(cause, errTimeout):
			return outcome{failed: true, reason: reasonTimeout, message: fmt.Sprintf("execution took longer than %v seconds", j.timeout)}
		case errors.Is(cause, errShutdown):
			return outcome{failed: true, reason: reasonSystemFailure, message: "(system failure): aborted: runner shutting down"}
		case errors.Is(cause, errAborted):
			return outcome{failed: true, reason: reasonSystemFailure, message: "aborted"}
		}
	}
	var se *scriptError
	if errors.As(err, &se) {
		return outcome{failed: true, reason: reasonScriptFailure, exitCode: se.code, message: se.Error()}
	}
	return outcome{failed: true, reason: reasonSystemFailure, message: fmt.Sprintf("(system failure): %v", err)}
}

// scriptError is a user-visible failure: a script, git, a download or an
// upload failed. gitlab-runner reports those as script_failure.
type scriptError struct {
	code int // process exit code, 0 when not from a process
	msg  string
}

func (e *scriptError) Error() string { return e.msg }

// fromProcess wraps a runProcess error: an exit status becomes a
// scriptError, anything else stays a system error.
func fromProcess(err error) error {
	if err == nil {
		return nil
	}
	if code := exitCode(err); code > 0 {
		return &scriptError{code: code, msg: fmt.Sprintf("exit status %d", code)}
	}
	return err
}

// execute runs every stage of the job and returns its outcome.
func (j *jobRun) execute() outcome {
	cfg := j.r.cfg
	j.header()

	end := j.section("prepare_executor", `Preparing the "shell" executor`)
	j.printf("Using Shell (%s) executor...", cfg.Shell)
	end()

	end = j.section("prepare_script", "Preparing environment")
	host, _ := os.Hostname()
	j.printf("Running on %s...", host)
	err := j.prepare()
	end()
	if err != nil {
		j.errorf("Preparation failed: %v", err)
		out := j.classify(err, j.scriptCtx)
		j.cleanup(true)
		return out
	}

	var jobErr error
	jobErr = j.getSources()
	if jobErr == nil {
		jobErr = j.downloadDependencies()
	}
	if jobErr == nil {
		for _, step := range j.job.Steps {
			if step.Name == "after_script" {
				continue
			}
			if jobErr = j.runStep(step); jobErr != nil {
				break
			}
		}
	}

	var out outcome
	if jobErr != nil {
		out = j.classify(jobErr, j.scriptCtx)
	}

	// after_script runs whatever happened, except on abort or shutdown.
	for _, step := range j.job.Steps {
		if step.Name == "after_script" && len(step.Script) > 0 && j.hardCtx.Err() == nil {
			j.runAfterScript(step, out)
		}
	}

	// Canceled jobs upload nothing: the user asked to stop.
	if !(out.failed && out.reason == reasonJobCanceled) && j.hardCtx.Err() == nil {
		if err := j.uploadArtifacts(!out.failed); err != nil && !out.failed {
			out = j.classify(err, j.hardCtx)
		}
	}
	if !out.failed && j.hardCtx.Err() != nil {
		out = j.classify(j.hardCtx.Err(), j.hardCtx)
	}
	j.cleanup(true)
	return out
}

// prepare creates the directories and the job environment.
func (j *jobRun) prepare() error {
	cfg := j.r.cfg
	j.projectDir = filepath.Join(cfg.BuildsDir, j.r.shortToken, strconv.Itoa(j.slot), projectPath(j.job))
	j.tmpDir = j.projectDir + ".tmp"
	if err := os.MkdirAll(filepath.Dir(j.projectDir), 0o755); err != nil {
		return fmt.Errorf("create builds dir: %w", err)
	}
	if err := os.RemoveAll(j.tmpDir); err != nil {
		return fmt.Errorf("reset temp dir: %w", err)
	}
	if err := os.MkdirAll(j.tmpDir, 0o700); err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	if err := j.r.sb.own(j.tmpDir); err != nil {
		return err
	}
	return j.buildEnv()
}

// mkProjectDir creates the project dir, owned by the job's user.
func (j *jobRun) mkProjectDir() error {
	if err := os.MkdirAll(j.projectDir, 0o755); err != nil {
		return fmt.Errorf("create project dir: %w", err)
	}
	return j.r.sb.own(j.projectDir)
}

// projectPath derives the project directory from repo_url as gitlab-runner
// does (URL path minus .git), falling back to project-<id>.
func projectPath(job *Job) string {
	fallback := fmt.Sprintf("project-%d", job.JobInfo.ProjectID)
	u, err := url.Parse(job.GitInfo.RepoURL)
	if err != nil || job.GitInfo.RepoURL == "" {
		return fallback
	}
	p := strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	var parts []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case "", ".":
		case "..":
			return fallback // never let the server steer us out of BuildsDir
		default:
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return fallback
	}
	return path.Join(parts...)
}

// lookupVar returns the last value of key in vars (later entries win).
func lookupVar(vars []Variable, key string) (string, bool) {
	for i := len(vars) - 1; i >= 0; i-- {
		if vars[i].Key == key {
			return vars[i].Value, true
		}
	}
	return "", false
}

// expandValue expands $VAR and ${VAR} against vars like gitlab-runner's
// JobVariables.ExpandValue: unknown variables become empty, shell special
// parameters are kept.
func expandValue(value string, vars []Variable) string {
	return os.Expand(value, func(key string) string {
		switch key {
		case "$":
			return "$"
		case "*", "#", "@", "!", "?", "-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9":
			return "$" + key
		}
		v, _ := lookupVar(vars, key)
		return v
	})
}

// buildEnv computes the variables and the process environment.
func (j *jobRun) buildEnv() error {
	cfg := j.r.cfg
	runnerVars := []Variable{
		{Key: "CI_BUILDS_DIR", Value: cfg.BuildsDir},
		{Key: "CI_PROJECT_DIR", Value: j.projectDir},
		{Key: "CI_CONCURRENT_ID", Value: strconv.Itoa(j.slot)},
		{Key: "CI_CONCURRENT_PROJECT_ID", Value: strconv.Itoa(j.slot)},
		{Key: "CI_SERVER", Value: "yes"},
		{Key: "CI_SHARED_ENVIRONMENT", Value: "true"},
		{Key: "CI_JOB_TIMEOUT", Value: strconv.Itoa(int(j.timeout / time.Second))},
		{Key: "CI_RUNNER_SHORT_TOKEN", Value: j.r.shortToken},
		{Key: "CI_RUNNER_VERSION", Value: Version},
		{Key: "CI_RUNNER_REVISION", Value: Revision},
		{Key: "CI_RUNNER_EXECUTABLE_ARCH", Value: runtime.GOOS + "/" + runtime.GOARCH},
		{Key: "CI_JOB_STATUS", Value: "running"},
	}
	// The runner's own variables come last so a job cannot redirect
	// CI_PROJECT_DIR and friends.
	all := append(append([]Variable{}, j.job.Variables...), runnerVars...)
	vars := make([]Variable, 0, len(all))
	for i, v := range all {
		if v.Key == "" || strings.ContainsAny(v.Key, "=\x00") {
			continue
		}
		if !v.Raw && i < len(j.job.Variables) {
			v.Value = expandValue(v.Value, all)
		}
		if v.File {
			p := filepath.Join(j.tmpDir, v.Key)
			if err := os.WriteFile(p, []byte(v.Value), 0o600); err != nil {
				return fmt.Errorf("write file variable %s: %w", v.Key, err)
			}
			if err := j.r.sb.own(p); err != nil {
				return err
			}
			v.Value = p
		}
		vars = append(vars, v)
	}
	j.vars = vars
	env := j.r.cfg.Environ
	if env == nil {
		env = os.Environ()
	}
	env = slices.Clip(env)
	for _, v := range vars {
		env = append(env, v.Key+"="+v.Value)
	}
	j.env = env
	return nil
}

// jobVar returns a job variable's (expanded) value.
func (j *jobRun) jobVar(key string) string {
	v, _ := lookupVar(j.vars, key)
	return v
}

// withStatus returns the environment with CI_JOB_STATUS overridden.
func (j *jobRun) withStatus(status string) []string {
	return append(append([]string{}, j.env...), "CI_JOB_STATUS="+status)
}

// runStep runs a script step as stage step_<name> in one shell process.
func (j *jobRun) runStep(step Step) error {
	stage := "step_" + step.Name
	end := j.section(stage, fmt.Sprintf("Executing %q stage of the job script", stage))
	defer end()
	err := j.runScript(j.scriptCtx, stage, step.Script, j.env)
	return fromProcess(err)
}

// runAfterScript runs after_script with its own timeout; its failure is
// only reported.
func (j *jobRun) runAfterScript(step Step, out outcome) {
	status := "success"
	if out.failed {
		status = "failed"
		if out.reason == reasonJobCanceled {
			status = "canceled"
		}
	}
	end := j.section("after_script", "Running after_script")
	defer end()
	j.printf("Running after script...")
	ctx, cancel := context.WithTimeoutCause(j.hardCtx, j.r.cfg.afterTimeout, errTimeout)
	defer cancel()
	if err := j.runScript(ctx, "after_script", step.Script, j.withStatus(status)); err != nil {
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), errTimeout) {
			j.warnf("after_script failed, but job will continue unaffected: timed out after %v", j.r.cfg.afterTimeout)
		} else if code := exitCode(err); code > 0 {
			j.warnf("after_script failed, but job will continue unaffected: exit code %d", code)
		} else {
			j.warnf("after_script failed, but job will continue unaffected: %v", err)
		}
	}
}

// runScript writes lines to a script file and runs it in the configured
// shell, echoing each command like gitlab-runner.
func (j *jobRun) runScript(ctx context.Context, stage string, lines []string, env []string) error {
	script := shellScript(j.r.cfg.Shell, lines)
	p := filepath.Join(j.tmpDir, "script_"+stage+".sh")
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		return fmt.Errorf("write %s script: %w", stage, err)
	}
	if err := j.mkProjectDir(); err != nil {
		return err
	}
	if err := j.r.sb.own(p); err != nil {
		return err
	}
	args := []string{p}
	if filepath.Base(j.r.cfg.Shell) == "bash" {
		args = []string{"--noprofile", "--norc", p}
	}
	return j.run(ctx, env, j.trace, j.r.cfg.Shell, args...)
}

// run runs one process of the job (git, a script) in the project dir under
// the runner's isolation, with only the project and temp dirs writable.
func (j *jobRun) run(ctx context.Context, env []string, out io.Writer, name string, args ...string) error {
	cmd, err := j.r.sb.command(j.projectDir, env, []string{j.projectDir, j.tmpDir}, name, args...)
	if err != nil {
		return err
	}
	err = runProcess(ctx, j.r.cfg.killGrace, cmd, out, name)
	if j.r.sb.isolate && exitCode(err) == sandboxSetupFailed {
		return fmt.Errorf("%s: the job sandbox could not be set up (see the log above)", name)
	}
	return err
}

// shellScript renders a step: stop at the first failing command, and echo
// each command in green with a "$ " prefix before running it.
func shellScript(shell string, lines []string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	if filepath.Base(shell) == "bash" {
		b.WriteString("set -o pipefail\n")
	} else {
		// Not every sh has pipefail; setting an unknown option would exit.
		b.WriteString("if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi\n")
	}
	b.WriteString("set +o noclobber\n")
	for _, line := range lines {
		shown := line
		if first, _, multi := strings.Cut(strings.TrimSpace(line), "\n"); multi {
			shown = first + " # collapsed multi-line command"
		}
		fmt.Fprintf(&b, "printf '%s$ %%s%s\\n' %s\n", `\033[32;1m`, `\033[0;m`, shellQuote(shown))
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

// shellQuote single-quotes s for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cleanup removes file variables and scripts; the project dir is kept for
// the fetch strategy, as gitlab-runner does.
func (j *jobRun) cleanup(withSection bool) {
	if j.tmpDir == "" {
		return
	}
	if withSection {
		end := j.section("cleanup_file_variables", "Cleaning up project directory and file based variables")
		defer end()
	}
	if err := os.RemoveAll(j.tmpDir); err != nil {
		j.log.Warn("cleanup failed", "dir", j.tmpDir, "err", err)
	}
}

// Final update tuning (docs/runner-protocol.md, "Acceptance and final update").
const (
	finalUpdateAttempts = 6
	finalAcceptWait     = 5 * time.Minute // longest we honour 202 "not yet"
)

// finalUpdate flushes the trace and reports the final state until the
// server accepts it, gives up, or the job is aborted.
func (j *jobRun) finalUpdate(runCtx context.Context, out outcome) {
	ctx := j.reportCtx
	req := runnerproto.JobUpdate{State: "success"}
	if out.failed {
		req.State = "failed"
		req.FailureReason = failureReason(j.job.Features, out.reason)
		if out.exitCode > 0 {
			req.ExitCode = out.exitCode
		}
	}
	started := time.Now()
	backoff := time.Second
	for attempt := 1; ; {
		if j.aborted() {
			return
		}
		var err error
		if err = j.sender.flushAll(ctx, j.aborted); err == nil {
			req.Output = j.trace.output()
			req.Checksum = req.Output.Checksum
			var res updateResult
			res, err = j.r.c.updateJob(ctx, j.job.ID, j.job.Token, req)
			if err == nil {
				if res.interval > 0 {
					j.sender.observe(updateResult{interval: res.interval})
				}
				switch {
				case res.status == http.StatusOK:
					return
				case res.state == remoteAbort:
					j.log.Info("final update refused; job already finished on the server", "status", res.status)
					return
				case res.status == http.StatusAccepted && time.Since(started) < finalAcceptWait:
					sleepCtx(ctx, j.sender.currentInterval())
					continue
				case res.status == http.StatusPreconditionFailed:
					// Trace validation failed: resend everything.
					j.sender.resetSent()
					continue
				}
				err = fmt.Errorf("final update: unexpected status %d", res.status)
			}
		}
		limit := finalUpdateAttempts
		if runCtx.Err() != nil {
			limit = 2 // shutting down: do not hold the process for long
		}
		if attempt >= limit {
			j.log.Error("giving up on the final job update", "err", err, "attempts", attempt)
			return
		}
		j.log.Warn("final job update failed; retrying", "err", err, "retry_in", backoff)
		if !sleepCtx(ctx, backoff) {
			return
		}
		attempt++
		backoff = min(backoff*2, time.Minute)
	}
}

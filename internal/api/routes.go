package api

import (
	"net/http"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
)

// This file is the one place to find every HTTP surface of Gantry. A request
// goes to the first of these that claims it (internal/app composes them:
// withUI in webui.go, then Server.ServeHTTP in server.go):
//
//  1. Web UI pages: internal/web/routes.go, its own table of ServeMux
//     patterns (/, /users/sign_in, /{namespace}/{project}/-/pipelines, ...).
//     web.Server.Handles never claims /api/, /-/ or a git path.
//  2. Git smart HTTP: internal/gitserve (git http-backend), chosen by
//     gitserve.IsGitPath. A project path has any depth and an optional .git,
//     which ServeMux patterns cannot express, so these are not mux entries:
//
//     GET  /{namespace}[/{subgroup}...]/{project}[.git]/info/refs?service=git-upload-pack|git-receive-pack
//     POST /{namespace}[/{subgroup}...]/{project}[.git]/git-upload-pack
//     POST /{namespace}[/{subgroup}...]/{project}[.git]/git-receive-pack
//
//     Paths under /api/ and /-/ are never git paths.
//  3. /api/v3/...: 410 Gone, as GitLab answers.
//  4. The table below: health checks, the REST API v4 and, appended at its
//     end, the runner protocol (see the last group).
//  5. Anything else: Grape's 404 {"error":"404 Not Found"}.

// routes is the one route table of the API server: its own routes, then
// Config.Extra (the runner protocol's).
func (s *Server) routes() []httpx.Route {
	auth := hopts{auth: true}
	authJob := hopts{auth: true, jobToken: true}
	anyone := hopts{}
	anyoneJob := hopts{jobToken: true}
	createRunner := hopts{auth: true, scope: ci.ScopeCreateRunner}
	manageRunner := hopts{auth: true, scope: "manage_runner"}
	const v4 = "/api/v4"
	r := func(method, pattern string, o hopts, fn func(*req) error) httpx.Route {
		return httpx.Route{Method: method, Pattern: v4 + pattern, Handler: s.handle(o, fn)}
	}
	table := []httpx.Route{
		{Method: "GET", Pattern: "/-/health", Handler: s.health},
		{Method: "GET", Pattern: "/-/liveness", Handler: s.liveness},
		{Method: "GET", Pattern: "/-/readiness", Handler: s.readiness},
		r("GET", "/version", auth, s.version),
		r("GET", "/metadata", auth, s.metadata),
		r("POST", "/usage_data/track_event", auth, s.trackEvent),
		r("POST", "/usage_data/track_events", auth, s.trackEvents),

		// Users and tokens.
		r("GET", "/user", auth, s.currentUser),
		r("GET", "/users", anyone, s.listUsers),
		r("GET", "/users/{user_id}", anyone, s.getUser),
		r("POST", "/users", auth, s.createUser),
		r("PUT", "/users/{user_id}", auth, s.updateUser),
		r("POST", "/users/{user_id}/personal_access_tokens", auth, s.createToken),
		r("DELETE", "/personal_access_tokens/{token_id}", auth, s.revokeToken),

		// Projects.
		r("GET", "/projects", anyone, s.listProjects),
		r("POST", "/projects", auth, s.createProject),
		r("GET", "/projects/{id}", anyone, s.getProject),
		r("PUT", "/projects/{id}", auth, s.updateProject),
		r("DELETE", "/projects/{id}", auth, s.deleteProject),
		r("POST", "/projects/{id}/archive", auth, s.setArchived(true)),
		r("POST", "/projects/{id}/unarchive", auth, s.setArchived(false)),
		r("POST", "/projects/{id}/members", auth, s.addMember),
		r("GET", "/projects/{id}/members", auth, s.listMembers),
		r("POST", "/projects/{id}/variables", auth, s.createVariable),
		r("GET", "/projects/{id}/variables", auth, s.listVariables),
		r("GET", "/projects/{id}/variables/{key}", auth, s.getVariable),
		r("PUT", "/projects/{id}/variables/{key}", auth, s.updateVariable),
		r("DELETE", "/projects/{id}/variables/{key}", auth, s.deleteVariable),
		r("PUT", "/projects/{id}/members/{user_id}", auth, s.updateMember),
		r("DELETE", "/projects/{id}/members/{user_id}", auth, s.deleteMember),
		r("GET", "/projects/{id}/job_token_scope", auth, s.getJobTokenScope),
		r("PATCH", "/projects/{id}/job_token_scope", auth, s.patchJobTokenScope),
		r("GET", "/projects/{id}/job_token_scope/allowlist", auth, s.listJobTokenAllowlist),
		r("POST", "/projects/{id}/job_token_scope/allowlist", auth, s.addJobTokenAllowlist),
		r("DELETE", "/projects/{id}/job_token_scope/allowlist/{target_project_id}", auth, s.removeJobTokenAllowlist),

		// Instance variables (administrators).
		r("GET", "/admin/ci/variables", auth, s.listInstanceVariables),
		r("POST", "/admin/ci/variables", auth, s.createInstanceVariable),
		r("GET", "/admin/ci/variables/{key}", auth, s.getInstanceVariable),
		r("PUT", "/admin/ci/variables/{key}", auth, s.updateInstanceVariable),
		r("DELETE", "/admin/ci/variables/{key}", auth, s.deleteInstanceVariable),

		// Protected branches and tags (maintainers).
		r("GET", "/projects/{id}/protected_branches", auth, s.listProtected(ci.BranchRef)),
		r("POST", "/projects/{id}/protected_branches", auth, s.protectBranch),
		r("GET", "/projects/{id}/protected_branches/{name}", auth, s.getProtected(ci.BranchRef)),
		r("PATCH", "/projects/{id}/protected_branches/{name}", auth, s.updateProtectedBranch),
		r("DELETE", "/projects/{id}/protected_branches/{name}", auth, s.unprotect(ci.BranchRef)),
		r("GET", "/projects/{id}/protected_tags", auth, s.listProtected(ci.TagRef)),
		r("POST", "/projects/{id}/protected_tags", auth, s.protectTag),
		r("GET", "/projects/{id}/protected_tags/{name}", auth, s.getProtected(ci.TagRef)),
		r("DELETE", "/projects/{id}/protected_tags/{name}", auth, s.unprotect(ci.TagRef)),

		// Jobs.
		r("GET", "/projects/{id}/jobs", authJob, s.listProjectJobs),
		r("GET", "/projects/{id}/jobs/{job_id}", auth, s.getJob),
		r("GET", "/projects/{id}/jobs/{job_id}/trace", auth, s.getTrace),
		r("GET", "/projects/{id}/jobs/{job_id}/pending_reason", auth, s.pendingReason),
		r("POST", "/projects/{id}/jobs/{job_id}/cancel", auth, s.cancelJob),
		r("POST", "/projects/{id}/jobs/{job_id}/retry", auth, s.retryJob),
		r("POST", "/projects/{id}/jobs/{job_id}/erase", auth, s.eraseJob),
		r("POST", "/projects/{id}/jobs/{job_id}/play", auth, s.playJob),
		r("GET", "/job", authJob, s.currentJob),
		r("GET", "/job/allowed_agents", authJob, s.allowedAgents),

		// Pipelines.
		r("GET", "/projects/{id}/pipelines", anyoneJob, s.listPipelines),
		r("POST", "/projects/{id}/pipeline", auth, s.createPipeline),
		r("GET", "/projects/{id}/pipelines/latest", anyoneJob, s.latestPipeline),
		r("GET", "/projects/{id}/pipelines/{pipeline_id}", anyoneJob, s.getPipeline),
		r("DELETE", "/projects/{id}/pipelines/{pipeline_id}", auth, s.deletePipeline),
		r("POST", "/projects/{id}/pipelines/{pipeline_id}/cancel", auth, s.cancelPipeline),
		r("POST", "/projects/{id}/pipelines/{pipeline_id}/retry", auth, s.retryPipeline),
		r("GET", "/projects/{id}/pipelines/{pipeline_id}/variables", anyoneJob, s.pipelineVariables),
		r("GET", "/projects/{id}/pipelines/{pipeline_id}/jobs", anyoneJob, s.pipelineJobs(false)),
		r("GET", "/projects/{id}/pipelines/{pipeline_id}/bridges", anyoneJob, s.pipelineJobs(true)),
		r("GET", "/projects/{id}/pipelines/{pipeline_id}/trigger_jobs", anyoneJob, s.pipelineJobs(true)),
		r("GET", "/projects/{id}/pipelines/{pipeline_id}/test_report", anyoneJob, s.pipelineTestReport),
		r("GET", "/projects/{id}/pipelines/{pipeline_id}/test_report_summary", anyoneJob, s.pipelineTestReportSummary),
		r("PUT", "/projects/{id}/pipelines/{pipeline_id}/metadata", auth, s.updatePipelineMetadata),
		r("GET", "/projects/{id}/triggers", auth, s.listTriggers),
		r("POST", "/projects/{id}/triggers", auth, s.createTrigger),
		r("GET", "/projects/{id}/triggers/{trigger_id}", auth, s.getTrigger),
		r("PUT", "/projects/{id}/triggers/{trigger_id}", auth, s.updateTrigger),
		r("DELETE", "/projects/{id}/triggers/{trigger_id}", auth, s.deleteTrigger),
		r("POST", "/projects/{id}/trigger/pipeline", anyone, s.triggerPipeline),
		r("GET", "/projects/{id}/pipeline_schedules", auth, s.listSchedules),
		r("POST", "/projects/{id}/pipeline_schedules", auth, s.createSchedule),
		r("GET", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}", auth, s.getSchedule),
		r("PUT", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}", auth, s.updateSchedule),
		r("DELETE", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}", auth, s.deleteSchedule),
		r("GET", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}/pipelines", auth, s.schedulePipelines),
		r("POST", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}/take_ownership", auth, s.takeScheduleOwnership),
		r("POST", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}/play", auth, s.playSchedule),
		r("POST", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}/variables", auth, s.createScheduleVariable),
		r("GET", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}/variables/{key}", auth, s.getScheduleVariable),
		r("PUT", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}/variables/{key}", auth, s.updateScheduleVariable),
		r("DELETE", "/projects/{id}/pipeline_schedules/{pipeline_schedule_id}/variables/{key}", auth, s.deleteScheduleVariable),
		{Method: "POST", Pattern: v4 + "/projects/{id}/ref/{rest...}", Handler: s.triggerPipelineRef()},
		r("POST", "/projects/{id}/ci/lint", auth, s.lintContent),
		r("GET", "/projects/{id}/ci/lint", auth, s.lintRef),

		// Repository (reads; repository.go).
		r("GET", "/projects/{id}/repository/commits", anyoneJob, s.listCommits),
		r("GET", "/projects/{id}/repository/commits/{sha}", anyoneJob, s.getCommit),
		r("GET", "/projects/{id}/repository/commits/{sha}/refs", anyoneJob, s.commitRefs),
		r("GET", "/projects/{id}/repository/commits/{sha}/statuses", anyoneJob, s.commitStatuses),
		r("POST", "/projects/{id}/statuses/{sha}", auth, s.createCommitStatus),
		r("GET", "/projects/{id}/repository/branches", anyoneJob, s.listBranches),
		r("GET", "/projects/{id}/repository/branches/{branch}", anyoneJob, s.getBranch),
		r("POST", "/projects/{id}/repository/branches", auth, s.createBranch),
		r("DELETE", "/projects/{id}/repository/branches/{branch}", auth, s.deleteRef(false)),
		r("DELETE", "/projects/{id}/repository/merged_branches", auth, s.deleteMergedBranches),
		r("GET", "/projects/{id}/repository/tags", anyoneJob, s.listTags),
		r("GET", "/projects/{id}/repository/tags/{tag_name}", anyoneJob, s.getTag),
		r("POST", "/projects/{id}/repository/tags", auth, s.createTag),
		r("DELETE", "/projects/{id}/repository/tags/{tag_name}", auth, s.deleteRef(true)),
		r("GET", "/projects/{id}/repository/tree", anyoneJob, s.listTree),
		r("GET", "/projects/{id}/repository/files/{file_path}", anyoneJob, s.getFile),
		r("GET", "/projects/{id}/repository/files/{file_path}/raw", anyoneJob, s.getRawFile),
		// archive and archive.<format>: ServeMux wildcards take whole segments.
		r("GET", "/projects/{id}/repository/{archive}", anyoneJob, s.repositoryArchive),
		r("GET", "/projects/{id}/merge_requests", anyone, s.listMergeRequests),
		r("GET", "/projects/{id}/merge_requests/{merge_request_iid}", anyone, s.getMergeRequest),

		// Runners (management; the runner protocol is in runnerapi).
		r("POST", "/user/runners", createRunner, s.createUserRunner),
		r("GET", "/runners", manageRunner, s.listRunners(false)),
		r("GET", "/runners/all", manageRunner, s.listRunners(true)),
		r("GET", "/runners/{runner_id}", manageRunner, s.getRunner),
		r("PUT", "/runners/{runner_id}", manageRunner, s.updateRunner),
		r("DELETE", "/runners/{runner_id}", manageRunner, s.deleteRunner),
		r("GET", "/runners/{runner_id}/jobs", manageRunner, s.runnerJobs),
		r("GET", "/projects/{id}/runners", auth, s.projectRunners),

		// Job artifacts (users').
		// One pattern for the four GETs below …/jobs/: ServeMux cannot hold
		// both /jobs/artifacts/{ref}/… and /jobs/{job_id}/artifacts/… .
		{Method: "GET", Pattern: v4 + "/projects/{id}/jobs/{job_id}/{rest...}", Handler: s.jobArtifactRoutes(map[string]http.HandlerFunc{
			"archive":     s.handle(authJob, s.downloadArtifacts),
			"file":        s.handle(authJob, s.artifactFile),
			"ref_archive": s.handle(authJob, s.downloadRefArtifacts),
			"ref_file":    s.handle(authJob, s.refArtifactFile),
		})},
		r("POST", "/projects/{id}/jobs/{job_id}/artifacts/keep", auth, s.keepArtifacts),
		r("DELETE", "/projects/{id}/jobs/{job_id}/artifacts", auth, s.deleteJobArtifacts),
		r("DELETE", "/projects/{id}/artifacts", auth, s.deleteProjectArtifacts),
	}

	// The runner protocol: internal/runnerapi's API.Routes, handed in as
	// Config.Extra because api does not import runnerapi (internal/app wires
	// them; docs/runner-protocol.md describes the exchange):
	//
	//	POST   /api/v4/runners                             register (legacy registration token)
	//	POST   /api/v4/runners/verify                      verify a runner token
	//	DELETE /api/v4/runners                             unregister a runner
	//	DELETE /api/v4/runners/managers                    unregister one runner manager
	//	POST   /api/v4/runners/reset_authentication_token  rotate the runner token
	//	POST   /api/v4/jobs/request                        long-poll for a job
	//	PUT    /api/v4/jobs/{id}                           job state (acceptance, touches, final update)
	//	PATCH  /api/v4/jobs/{id}/trace                     append to the job log
	//	POST   /api/v4/jobs/{id}/artifacts                 upload artifacts
	//	GET    /api/v4/jobs/{id}/artifacts                 download a dependency's artifacts
	//
	// TestRouteTableListsRunnerRoutes (internal/app) keeps this list in step
	// with API.Routes.
	return append(table, s.cfg.Extra...)
}

// jobArtifactRoutes dispatches GET …/jobs/{job_id}/{rest...}:
//
//	{job_id}/artifacts                      → archive
//	{job_id}/artifacts/{artifact_path...}   → file
//	artifacts/{ref_name}/download           → ref_archive
//	artifacts/{ref_name}/raw/{path...}      → ref_file
func (s *Server) jobArtifactRoutes(h map[string]http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		jobID, rest := r.PathValue("job_id"), r.PathValue("rest")
		if jobID == "artifacts" {
			// The ref name may itself contain slashes; the suffix decides.
			if ref, ok := strings.CutSuffix(rest, "/download"); ok && ref != "" {
				r.SetPathValue("ref_name", ref)
				h["ref_archive"](w, r)
				return
			}
			if i := strings.Index(rest, "/raw/"); i > 0 {
				r.SetPathValue("ref_name", rest[:i])
				r.SetPathValue("artifact_path", rest[i+len("/raw/"):])
				h["ref_file"](w, r)
				return
			}
		}
		if rest == "artifacts" {
			h["archive"](w, r)
			return
		}
		if p, ok := strings.CutPrefix(rest, "artifacts/"); ok && p != "" {
			r.SetPathValue("artifact_path", p)
			h["file"](w, r)
			return
		}
		s.notFound(w, r)
	}
}

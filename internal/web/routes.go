package web

import "github.com/gantryci/gantry/internal/httpx"

// routes is the UI's one route table, at GitLab's paths. Each page's
// handler lives in its own file (page_*.go) and renders the template of
// the same name (templates/*.html).
func (s *Server) routes() []httpx.Route {
	h := s.handle
	const proj = "/{namespace}/{project}"
	return []httpx.Route{
		{Method: "GET", Pattern: "/assets/{file}", Handler: s.static().ServeHTTP},
		{Method: "GET", Pattern: "/assets/term.css", Handler: termStyles},
		{Method: "GET", Pattern: "/{$}", Handler: h(s.projectsPage)},
		{Method: "GET", Pattern: "/users/sign_in", Handler: h(s.signInForm)},
		{Method: "POST", Pattern: "/users/sign_in", Handler: h(s.signIn)},
		{Method: "POST", Pattern: "/users/sign_out", Handler: h(s.signOut)},
		{Method: "GET", Pattern: "/{namespace}", Handler: h(s.userPage)},
		{Method: "GET", Pattern: "/admin/runners", Handler: h(s.adminRunnersPage)},
		{Method: "GET", Pattern: "/admin/runners/events", Handler: h(s.adminEvents)},

		{Method: "GET", Pattern: proj, Handler: h(s.pipelinesPage)},
		{Method: "GET", Pattern: proj + "/-/pipelines", Handler: h(s.pipelinesPage)},
		{Method: "GET", Pattern: proj + "/-/pipelines/{id}", Handler: h(s.pipelinePage)},
		{Method: "GET", Pattern: proj + "/-/pipelines/{id}/graph", Handler: h(s.pipelineGraphFragment)},
		{Method: "GET", Pattern: proj + "/-/pipelines/{id}/search", Handler: h(s.pipelineSearch)},
		{Method: "POST", Pattern: proj + "/-/pipelines/{id}/retry", Handler: h(s.pipelineRetry)},
		{Method: "POST", Pattern: proj + "/-/pipelines/{id}/cancel", Handler: h(s.pipelineCancel)},
		{Method: "GET", Pattern: proj + "/-/commit/{sha}", Handler: h(s.commitPage)},

		{Method: "GET", Pattern: proj + "/-/jobs", Handler: h(s.jobsPage)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}", Handler: h(s.jobPage)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/raw", Handler: h(s.jobRaw)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/log", Handler: h(s.jobLogLines)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/log/stream", Handler: h(s.jobLogStream)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/log/search", Handler: h(s.jobLogSearch)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/artifacts/browse", Handler: h(s.artifactsBrowse)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/artifacts/browse/{path...}", Handler: h(s.artifactsBrowse)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/artifacts/download", Handler: h(s.artifactsDownload)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/artifacts/file/{path...}", Handler: h(s.artifactsFile)},
		{Method: "GET", Pattern: proj + "/-/jobs/{id}/artifacts/raw/{path...}", Handler: h(s.artifactsFile)},
		{Method: "POST", Pattern: proj + "/-/jobs/{id}/retry", Handler: h(s.jobRetry)},
		{Method: "POST", Pattern: proj + "/-/jobs/{id}/cancel", Handler: h(s.jobCancel)},
		{Method: "POST", Pattern: proj + "/-/jobs/{id}/play", Handler: h(s.jobPlay)},

		{Method: "GET", Pattern: proj + "/-/runners", Handler: h(s.projectRunnersPage)},
		{Method: "GET", Pattern: proj + "/-/events", Handler: h(s.projectEvents)},
	}
}

package api

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
)

// maxJUnitReportSize caps the uncompressed XML read from one job's junit
// artifact: parsing memory stays bounded whatever a job uploads.
const maxJUnitReportSize = 32 << 20

// TestCaseEntity is GitLab's TestCaseEntity (app/serializers/test_case_entity.rb).
type TestCaseEntity struct {
	Status         string  `json:"status"`
	Name           *string `json:"name"`
	Classname      *string `json:"classname"`
	File           *string `json:"file"`
	ExecutionTime  float64 `json:"execution_time"`
	SystemOutput   any     `json:"system_output"`
	StackTrace     *string `json:"stack_trace"`
	RecentFailures any     `json:"recent_failures"`
}

// TestCounts are the time and counts that GitLab's test report, suite and
// suite summary entities all expose, in their order.
type TestCounts struct {
	TotalTime    float64 `json:"total_time"`
	TotalCount   int     `json:"total_count"`
	SuccessCount int     `json:"success_count"`
	FailedCount  int     `json:"failed_count"`
	SkippedCount int     `json:"skipped_count"`
	ErrorCount   int     `json:"error_count"`
}

// countsOf is a suite's TestCounts (TestSuite#total_count and friends).
func countsOf(su *ci.TestSuite) TestCounts {
	return TestCounts{TotalTime: su.TotalTime, TotalCount: su.TotalCount(), SuccessCount: su.Count(ci.TestSuccess),
		FailedCount: su.Count(ci.TestFailed), SkippedCount: su.Count(ci.TestSkipped), ErrorCount: su.Count(ci.TestError)}
}

func (c *TestCounts) add(o TestCounts) {
	c.TotalTime += o.TotalTime
	c.TotalCount += o.TotalCount
	c.SuccessCount += o.SuccessCount
	c.FailedCount += o.FailedCount
	c.SkippedCount += o.SkippedCount
	c.ErrorCount += o.ErrorCount
}

// TestSuiteEntity is GitLab's TestSuiteEntity with details.
type TestSuiteEntity struct {
	Name string `json:"name"`
	TestCounts
	SuiteError *string          `json:"suite_error"`
	TestCases  []TestCaseEntity `json:"test_cases"`
}

// TestReportEntity is GitLab's TestReportEntity.
type TestReportEntity struct {
	TestCounts
	TestSuites []TestSuiteEntity `json:"test_suites"`
}

// TestReportTotal is TestSuiteSummary#to_h, the "total" of a summary.
type TestReportTotal struct {
	Time       float64 `json:"time"`
	Count      int     `json:"count"`
	Success    int     `json:"success"`
	Failed     int     `json:"failed"`
	Skipped    int     `json:"skipped"`
	Error      int     `json:"error"`
	SuiteError *string `json:"suite_error"`
}

// TestSuiteSummaryEntity is GitLab's TestSuiteSummaryEntity.
type TestSuiteSummaryEntity struct {
	Name string `json:"name"`
	TestCounts
	BuildIDs   []int64 `json:"build_ids"`
	SuiteError *string `json:"suite_error"`
}

// TestReportSummaryEntity is GitLab's TestReportSummaryEntity.
type TestReportSummaryEntity struct {
	Total      TestReportTotal          `json:"total"`
	TestSuites []TestSuiteSummaryEntity `json:"test_suites"`
}

// testReportJobs lists the pipeline's latest builds that uploaded a junit
// report, with that report (Ci::Pipeline#latest_test_report_builds).
func (s *Server) testReportJobs(ctx context.Context, pl *ci.Pipeline) ([]*ci.Job, map[int64]*ci.Artifact, error) {
	jobs, err := s.store.PipelineJobs(ctx, pl.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("jobs of pipeline %d: %w", pl.ID, err)
	}
	var ids []int64
	var builds []*ci.Job
	for _, j := range jobs {
		if j.Retried || j.Kind == ci.KindBridge {
			continue
		}
		builds = append(builds, j)
		ids = append(ids, j.ID)
	}
	arts, err := s.store.ArtifactsByJobIDs(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("artifacts of pipeline %d: %w", pl.ID, err)
	}
	reports := map[int64]*ci.Artifact{}
	var out []*ci.Job
	for _, j := range builds {
		for _, a := range arts[j.ID] {
			if a.FileType == "junit" {
				reports[j.ID] = a
				out = append(out, j)
				break
			}
		}
	}
	return out, reports, nil
}

// collectTestReport parses the job's junit report into the suite named
// after the job (Ci::Build#collect_test_reports!). A gzip artifact may hold
// several concatenated members, one XML document each, as the runner
// uploads them.
func (s *Server) collectTestReport(ctx context.Context, j *ci.Job, a *ci.Artifact, suite *ci.TestSuite) {
	f, err := s.cfg.Blobs.Open(ctx, a.BlobKey)
	if err != nil {
		suite.SetError("JUnit data parsing failed: report is not available")
		s.log.Warn("open junit report", "job", j.ID, "err", err)
		return
	}
	defer f.Close()
	limited := &io.LimitedReader{R: f, N: maxJUnitReportSize + 1}
	if a.FileFormat != "gzip" {
		parseBounded(limited, suite)
		return
	}
	br := bufio.NewReader(f)
	budget := int64(maxJUnitReportSize)
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			suite.SetError("JUnit data parsing failed: " + err.Error())
			return
		}
		zr.Multistream(false)
		lr := &io.LimitedReader{R: zr, N: budget + 1}
		parseBounded(lr, suite)
		if suite.SuiteError != nil {
			return
		}
		// Drain the member so the next one starts where this ends.
		if _, err := io.Copy(io.Discard, lr); err != nil {
			suite.SetError("JUnit data parsing failed: " + err.Error())
			return
		}
		budget = lr.N - 1
		if budget < 0 {
			suite.SetError(fmt.Sprintf("JUnit data parsing failed: report is larger than %d bytes", maxJUnitReportSize))
			return
		}
	}
}

// parseBounded parses one document from a reader limited to the cap plus
// one byte: reaching that byte means the report is too large.
func parseBounded(lr *io.LimitedReader, suite *ci.TestSuite) {
	ci.ParseJUnit(lr, suite, 0)
	if lr.N <= 0 {
		suite.SetError(fmt.Sprintf("JUnit data parsing failed: report is larger than %d bytes", maxJUnitReportSize))
	}
}

// testSuiteName is Ci::Build#test_suite_name.
func testSuiteName(j *ci.Job) string {
	return ci.TestSuiteName(j.Name, strings.HasSuffix(j.Name, "]"))
}

// pipelineTestReport is GET /projects/:id/pipelines/:pipeline_id/test_report.
func (s *Server) pipelineTestReport(q *req) error {
	jobs, reports, err := s.testReportInputs(q)
	if err != nil {
		return err
	}
	var rep ci.TestReport
	for _, j := range jobs {
		s.collectTestReport(q.ctx(), j, reports[j.ID], rep.Suite(testSuiteName(j)))
	}
	out := TestReportEntity{TestSuites: []TestSuiteEntity{}}
	for _, su := range rep.Suites {
		e := TestSuiteEntity{Name: su.Name, TestCounts: countsOf(su), SuiteError: su.SuiteError, TestCases: []TestCaseEntity{}}
		for _, c := range su.Sorted() {
			e.TestCases = append(e.TestCases, TestCaseEntity{Status: c.Status, Name: c.Name, Classname: c.Classname,
				File: c.File, ExecutionTime: c.ExecutionTime, SystemOutput: c.SystemOutput})
		}
		out.add(e.TestCounts)
		out.TestSuites = append(out.TestSuites, e)
	}
	return q.json(http.StatusOK, out)
}

// pipelineTestReportSummary is GET
// /projects/:id/pipelines/:pipeline_id/test_report_summary. GitLab sums the
// per-job results it records when a job completes (Ci::BuildReportResult),
// so only completed jobs count, each job's suite on its own.
func (s *Server) pipelineTestReportSummary(q *req) error {
	jobs, reports, err := s.testReportInputs(q)
	if err != nil {
		return err
	}
	out := TestReportSummaryEntity{TestSuites: []TestSuiteSummaryEntity{}}
	idx := map[string]int{}
	for _, j := range jobs {
		if !j.Status.Complete() {
			continue
		}
		name := testSuiteName(j)
		su := ci.NewTestSuite(name)
		s.collectTestReport(q.ctx(), j, reports[j.ID], su)
		i, ok := idx[name]
		if !ok {
			i = len(out.TestSuites)
			idx[name] = i
			out.TestSuites = append(out.TestSuites, TestSuiteSummaryEntity{Name: name, BuildIDs: []int64{}})
		}
		e := &out.TestSuites[i]
		e.add(countsOf(su))
		e.BuildIDs = append(e.BuildIDs, j.ID)
		if e.SuiteError == nil {
			e.SuiteError = su.SuiteError
		}
	}
	t := &out.Total
	for _, e := range out.TestSuites {
		t.Time += e.TotalTime
		t.Success += e.SuccessCount
		t.Failed += e.FailedCount
		t.Skipped += e.SkippedCount
		t.Error += e.ErrorCount
		if t.SuiteError == nil {
			t.SuiteError = e.SuiteError
		}
	}
	t.Count = t.Success + t.Failed + t.Skipped + t.Error
	return q.json(http.StatusOK, out)
}

// testReportInputs finds the pipeline of a test report route (GitLab asks
// for read_build on it) and its jobs with junit reports.
func (s *Server) testReportInputs(q *req) ([]*ci.Job, map[int64]*ci.Artifact, error) {
	if _, err := q.pathInt("pipeline_id"); err != nil {
		return nil, nil, err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, nil, err
	}
	if err := q.can(p, lvl, access.ReadBuild); err != nil {
		return nil, nil, err
	}
	pl, err := s.findPipeline(q, p)
	if err != nil {
		return nil, nil, err
	}
	return s.testReportJobs(q.ctx(), pl)
}

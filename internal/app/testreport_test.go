package app_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"regexp"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

const testReportConfig = `
unit 1/2:
  script: [go test]
unit 2/2:
  script: [go test]
lint:
  script: [lint]
plain:
  script: [echo ok]
`

// uploadJUnit uploads the documents as one junit artifact, each its own
// gzip member, as gitlab-runner concatenates several report files.
func (f *fakeRunner) uploadJUnit(id int64, token string, docs ...string) {
	f.s.t.Helper()
	var gz bytes.Buffer
	for _, d := range docs {
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write([]byte(d))
		_ = zw.Close()
	}
	f.uploadFile(id, token, "junit", "gzip", "junit.xml.gz", gz.Bytes())
}

// TestPipelineTestReport: the JUnit reports jobs upload appear in the
// pipeline's test_report and test_report_summary, suites grouped by job
// group name, through GitLab's Go client and pinned as golden JSON.
func TestPipelineTestReport(t *testing.T) { forEachDB(t, testPipelineTestReport) }

func testPipelineTestReport(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("reports", "private")
	s.push("root/reports", map[string]string{".gitlab-ci.yml": testReportConfig})
	r := s.registerRunner()

	id1, tok1 := r.take("unit 1/2")
	r.uploadJUnit(id1, tok1, `<testsuites><testsuite name="calc">
<testcase classname="calc" name="adds" file="./calc_test.go" time="0.5"/>
<testcase classname="calc" name="subtracts" time="1.25"><failure message="bad">expected 1, got 2</failure><system-out>debug</system-out></testcase>
<testcase classname="calc" name="later" time="0"><skipped message="todo"/></testcase>
</testsuite></testsuites>`, `<testsuite name="io"><testcase classname="io" name="reads" time="0.25"/></testsuite>`)
	r.finish(id1, tok1, "failed", "script_failure")
	id2, tok2 := r.take("unit 2/2")
	r.uploadJUnit(id2, tok2, `<testsuite name="net"><testcase classname="net" name="dials" time="2"><error>timeout</error></testcase></testsuite>`)
	r.finish(id2, tok2, "failed", "script_failure")
	id3, tok3 := r.take("lint")
	r.uploadJUnit(id3, tok3, `<testsuite><testcase name="broken"`)
	r.finish(id3, tok3, "success", "")
	id4, tok4 := r.take("plain")
	r.finish(id4, tok4, "success", "")
	pl := int64(s.jobs(pid)["lint"]["pipeline"].(map[string]any)["id"].(float64))

	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := gl.Pipelines.GetPipelineTestReport(pid, pl)
	if err != nil {
		t.Fatalf("GetPipelineTestReport: %v", err)
	}
	if rep.TotalCount != 5 || rep.SuccessCount != 2 || rep.FailedCount != 1 || rep.ErrorCount != 1 || rep.SkippedCount != 1 ||
		rep.TotalTime != 4 || len(rep.TestSuites) != 2 {
		t.Fatalf("report %+v", rep)
	}
	unit, lint := rep.TestSuites[0], rep.TestSuites[1]
	if unit.Name != "unit" || unit.TotalCount != 5 || len(unit.TestCases) != 5 || unit.TestCases[0].Name != "dials" ||
		unit.TestCases[1].Name != "subtracts" || unit.TestCases[1].Classname != "calc" ||
		unit.TestCases[1].SystemOutput != "expected 1, got 2\n\nSystem Out:\n\ndebug" || unit.TestCases[2].File != "./calc_test.go" {
		t.Errorf("unit suite %+v", unit)
	}
	if lint.Name != "lint" || lint.TotalCount != 0 || len(lint.TestCases) != 0 {
		t.Errorf("lint suite %+v", lint)
	}
	sum, _, err := gl.Pipelines.GetPipelineTestReportSummary(pid, pl)
	if err != nil {
		t.Fatalf("GetPipelineTestReportSummary: %v", err)
	}
	if sum.Total.Count != 5 || sum.Total.Failed != 1 || sum.Total.Time != 4 || sum.Total.SuiteError == nil ||
		len(sum.TestSuites) != 2 || len(sum.TestSuites[0].BuildIDs) != 2 || sum.TestSuites[0].BuildIDs[1] != id2 {
		t.Errorf("summary %+v %+v", sum, sum.TestSuites)
	}
	golden(t, "test_report", s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/test_report", pid, pl), rootToken, nil).Body)
	golden(t, "test_report_summary", normalizeIDs(s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/test_report_summary", pid, pl), rootToken, nil).Body))

	// A pipeline of another project is not found; an outsider sees nothing.
	other := s.project("other", "private")
	s.must(404, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/test_report", other, pl), rootToken, nil)
	_, outsider := s.user("outsider")
	s.must(404, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/test_report_summary", pid, pl), outsider, nil)
	s.must(400, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/x/test_report", pid), rootToken, nil)
}

var buildIDsRE = regexp.MustCompile(`"build_ids":\[[0-9,]*\]`)

// normalizeIDs hides job ids, which depend on the database's sequences.
func normalizeIDs(b []byte) []byte { return buildIDsRE.ReplaceAll(b, []byte(`"build_ids":"<ids>"`)) }

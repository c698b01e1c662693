package ci

import (
	"strings"
	"testing"
)

func TestParseJUnit(t *testing.T) {
	t.Parallel()
	const doc = `<?xml version="1.0"?>
<testsuites name="all">
  <testsuite name="calc" tests="5">
    <testcase classname="calc" name="adds" file="./calc_test.go" time="0.5"/>
    <testcase classname="calc" name="subtracts" time="1.25">
      <failure message="bad">expected 1 got 2</failure>
      <system-out>printed</system-out>
    </testcase>
    <testcase classname="calc" name="divides" time="0.1"><error>panic</error></testcase>
    <testcase classname="calc" name="later" time="0"><skipped message="todo"/></testcase>
    <testcase classname="calc" name="empty-skip"><skipped/></testcase>
    <testsuite name="nested"><testcase classname="n" name="deep" time="2"/></testsuite>
  </testsuite>
  <testcase classname="top" name="direct" time="abc"/>
</testsuites>`
	s := NewTestSuite("unit")
	ParseJUnit(strings.NewReader(doc), s, 0)
	if s.SuiteError != nil {
		t.Fatalf("suite error %s", *s.SuiteError)
	}
	if got := [...]int{s.Count(TestSuccess), s.Count(TestFailed), s.Count(TestError), s.Count(TestSkipped), s.TotalCount()}; got != [...]int{3, 1, 1, 2, 7} {
		t.Fatalf("counts %v", got)
	}
	if s.TotalTime != 3.85 {
		t.Errorf("total time %v", s.TotalTime)
	}
	var names []string
	for _, c := range s.Sorted() {
		names = append(names, *c.Name)
	}
	if got := strings.Join(names, ","); got != "divides,subtracts,deep,adds,direct,later,empty-skip" {
		t.Errorf("order %s", got)
	}
	byName := map[string]*TestCase{}
	for _, c := range s.Sorted() {
		byName[*c.Name] = c
	}
	if got := byName["subtracts"].SystemOutput; got != "expected 1 got 2\n\nSystem Out:\n\nprinted" {
		t.Errorf("failure output %q", got)
	}
	if got, ok := byName["later"].SystemOutput.(map[string]string); !ok || got["message"] != "todo" {
		t.Errorf("skipped output %#v", byName["later"].SystemOutput)
	}
	if byName["empty-skip"].SystemOutput != nil || byName["adds"].File == nil || *byName["adds"].File != "./calc_test.go" || byName["divides"].File != nil {
		t.Errorf("fields %+v %+v", byName["empty-skip"], byName["adds"])
	}
}

func TestParseJUnitErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		max       int
		prefix    string
	}{
		{"empty", "", 0, "JUnit XML parsing failed: "},
		{"broken", "<testsuite><testcase name='a'>", 0, "JUnit XML parsing failed: "},
		{"limit", "<testsuite><testcase name='a'/><testcase name='b'/></testsuite>", 1, "JUnit data parsing failed: number of test cases exceeded the limit of 1"},
	} {
		s := NewTestSuite("x")
		ParseJUnit(strings.NewReader(tc.doc), s, tc.max)
		if s.SuiteError == nil || !strings.HasPrefix(*s.SuiteError, tc.prefix) {
			t.Errorf("%s: error %v", tc.name, s.SuiteError)
			continue
		}
		if s.TotalCount() != 0 || len(s.Sorted()) != 0 {
			t.Errorf("%s: a suite with an error counts nothing", tc.name)
		}
	}
}

func TestTestSuiteName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"rspec": "rspec", "rspec 1/3": "rspec", "rspec 2:3": "rspec", "unit test": "unit test"} {
		if got := TestSuiteName(in, false); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
	if got := TestSuiteName("test: [a, b]", true); got != "test: [a, b]" {
		t.Errorf("matrix: %q", got)
	}
}

package ci

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Test case statuses, in the order GitLab lists them
// (Gitlab::Ci::Reports::TestCase::STATUS_TYPES).
const (
	TestError   = "error"
	TestFailed  = "failed"
	TestSuccess = "success"
	TestSkipped = "skipped"
)

var testStatusOrder = []string{TestError, TestFailed, TestSuccess, TestSkipped}

// TestCase is one parsed JUnit test case (Gitlab::Ci::Reports::TestCase).
type TestCase struct {
	Status        string
	Name          *string
	Classname     *string
	File          *string
	ExecutionTime float64
	// SystemOutput is nil, a string, or an attribute map (a <skipped>
	// element with attributes but no text, as Hash.from_xml gives it).
	SystemOutput any
	// Key is GitLab's dedup key: sha256 of "<suite>_<classname>_<name>".
	Key string
}

// TestSuite is the cases of one suite: the JUnit reports of the jobs sharing
// a test suite name (Gitlab::Ci::Reports::TestSuite).
type TestSuite struct {
	Name       string
	TotalTime  float64
	SuiteError *string
	// cases per status, in insertion order; a repeated key replaces the
	// earlier case in place, as a Ruby hash does.
	cases map[string][]*TestCase
	index map[string]map[string]int
}

// NewTestSuite returns an empty suite.
func NewTestSuite(name string) *TestSuite {
	return &TestSuite{Name: name, cases: map[string][]*TestCase{}, index: map[string]map[string]int{}}
}

func (s *TestSuite) add(c *TestCase) {
	if s.index[c.Status] == nil {
		s.index[c.Status] = map[string]int{}
	}
	if i, ok := s.index[c.Status][c.Key]; ok {
		s.cases[c.Status][i] = c
	} else {
		s.index[c.Status][c.Key] = len(s.cases[c.Status])
		s.cases[c.Status] = append(s.cases[c.Status], c)
	}
	s.TotalTime += c.ExecutionTime
}

// SetError records a parse failure; the suite then counts nothing.
func (s *TestSuite) SetError(msg string) { s.SuiteError = &msg }

// Count is the number of cases of a status (0 once the suite has an error).
func (s *TestSuite) Count(status string) int {
	if s.SuiteError != nil {
		return 0
	}
	return len(s.cases[status])
}

// TotalCount is the number of cases of all statuses.
func (s *TestSuite) TotalCount() int {
	n := 0
	for _, st := range testStatusOrder {
		n += s.Count(st)
	}
	return n
}

// Sorted lists the cases by status (error, failed, success, skipped), then
// by execution time, longest first (TestSuite#sorted); none after an error.
func (s *TestSuite) Sorted() []*TestCase {
	out := []*TestCase{}
	if s.SuiteError != nil {
		return out
	}
	for _, st := range testStatusOrder {
		cs := slices.Clone(s.cases[st])
		slices.SortStableFunc(cs, func(a, b *TestCase) int { return cmp.Compare(b.ExecutionTime, a.ExecutionTime) })
		out = append(out, cs...)
	}
	return out
}

// TestReport is the suites of a pipeline, in the order their jobs were read
// (Gitlab::Ci::Reports::TestReport).
type TestReport struct {
	Suites []*TestSuite
}

// Suite returns the named suite, adding it when new (TestReport#get_suite).
func (r *TestReport) Suite(name string) *TestSuite {
	for _, s := range r.Suites {
		if s.Name == name {
			return s
		}
	}
	s := NewTestSuite(name)
	r.Suites = append(r.Suites, s)
	return s
}

// groupNameRE is Ci::Build#group_name's suffix: parallel "1/3" or matrix
// "[a, b]" markers.
var groupNameRE = regexp.MustCompile(`([\x08\s:]+((\[.*\])|(\d+[\s:/\\]+\d+))){1,3}\s*$`)

// TestSuiteName is Ci::Build#test_suite_name: a matrix job keeps its name,
// other jobs use their group name (parallel "N/M" suffix removed).
func TestSuiteName(jobName string, matrix bool) string {
	if matrix {
		return jobName
	}
	return strings.TrimSpace(groupNameRE.ReplaceAllString(jobName, ""))
}

// ErrJUnitTooLarge is reported when a report exceeds the parser's limit.
var ErrJUnitTooLarge = errors.New("report is too large")

// junitNode is a testcase child (failure, error, skipped, system-out,
// system-err) as Hash.from_xml renders it: text, or attributes when it has
// no text.
type junitNode struct {
	present bool
	text    *string
	attrs   map[string]string
}

func (n junitNode) value() any {
	switch {
	case n.text != nil:
		return *n.text
	case len(n.attrs) > 0:
		return n.attrs
	}
	return nil
}

// rubyString is how Ruby's Array#join prints a value: strings as they are,
// hashes as Hash#inspect does.
func rubyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, strconv.Quote(k)+"=>"+strconv.Quote(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ""
}

// ParseJUnit streams one JUnit XML document into suite, as
// Gitlab::Ci::Parsers::Test::Junit does: cases are read under a top-level
// <testsuites> or <testsuite> and any nested <testsuite>. maxCases > 0 caps
// the cases of the document. A bad document sets the suite's error with
// GitLab's prefixes and keeps the cases read before it.
func ParseJUnit(r io.Reader, suite *TestSuite, maxCases int) {
	if err := parseJUnit(r, suite, maxCases); err != nil {
		var syn *xml.SyntaxError
		if errors.As(err, &syn) {
			suite.SetError("JUnit XML parsing failed: " + err.Error())
		} else {
			suite.SetError("JUnit data parsing failed: " + err.Error())
		}
	}
}

func parseJUnit(r io.Reader, suite *TestSuite, maxCases int) error {
	d := xml.NewDecoder(r)
	d.Strict = true
	// The stack of open element names; cases count only where the path is
	// testsuites? testsuite* (GitLab's all_cases).
	var stack []string
	var pushed []bool // whether the open element added to suiteNames
	var suiteNames []string
	var tc map[string]string
	nodes := map[string]*junitNode{}
	var cur *junitNode
	var text strings.Builder
	parsed := 0
	seenRoot := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if !seenRoot {
				return &xml.SyntaxError{Msg: "Document is empty", Line: 1}
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			seenRoot = true
			name := t.Name.Local
			inSuite := suiteContext(stack)
			push := false
			switch {
			case tc == nil && (name == "testsuite" && (len(stack) == 0 || inSuite) || name == "testsuites" && len(stack) == 0):
				suiteNames = append(suiteNames, attr(t, "name"))
				push = true
			case tc == nil && name == "testcase" && inSuite && len(stack) > 0:
				tc = attrMap(t)
				clear(nodes)
			case tc != nil && len(stack) > 0 && stack[len(stack)-1] == "testcase" && cur == nil:
				key := strings.ReplaceAll(name, "-", "_")
				if _, dup := nodes[key]; !dup {
					n := &junitNode{present: true}
					if as := attrMap(t); len(as) > 0 {
						n.attrs = as
					}
					nodes[key] = n
					cur = n
					text.Reset()
				}
			}
			stack = append(stack, name)
			pushed = append(pushed, push)
		case xml.CharData:
			if cur != nil {
				text.Write(t)
			}
		case xml.EndElement:
			name := t.Name.Local
			stack = stack[:len(stack)-1]
			if pushed[len(pushed)-1] {
				suiteNames = suiteNames[:len(suiteNames)-1]
			}
			pushed = pushed[:len(pushed)-1]
			switch {
			case cur != nil && len(stack) > 0 && stack[len(stack)-1] == "testcase":
				if s := text.String(); strings.TrimSpace(s) != "" {
					cur.text = &s
				}
				cur = nil
			case tc != nil && name == "testcase":
				sn := suite.Name
				if len(suiteNames) > 0 {
					sn = suiteNames[len(suiteNames)-1]
				}
				suite.add(junitCase(tc, nodes, sn))
				tc = nil
				parsed++
				if maxCases > 0 && parsed > maxCases {
					return fmt.Errorf("number of test cases exceeded the limit of %d", maxCases)
				}
			}
		}
	}
}

// suiteContext reports whether stack (the open elements) is a place where
// GitLab reads test cases: <testsuites> at the top, or <testsuite>s nested
// under the top element.
func suiteContext(stack []string) bool {
	if len(stack) == 0 {
		return false
	}
	for i, n := range stack {
		if n == "testsuite" || (i == 0 && n == "testsuites") {
			continue
		}
		return false
	}
	return true
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func attrMap(t xml.StartElement) map[string]string {
	m := map[string]string{}
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		m[a.Name.Local] = a.Value
	}
	return m
}

// junitCase is Junit#create_test_case.
func junitCase(tc map[string]string, nodes map[string]*junitNode, suiteName string) *TestCase {
	str := func(k string) *string {
		if v, ok := tc[k]; ok {
			return &v
		}
		return nil
	}
	c := &TestCase{Name: str("name"), Classname: str("classname"), File: str("file"),
		ExecutionTime: rubyToF(tc["time"]), Status: TestSuccess}
	var sysOut, sysErr *string
	if n := nodes["system_out"]; n != nil {
		s := "System Out:\n\n" + rubyString(n.value())
		sysOut = &s
	}
	if n := nodes["system_err"]; n != nil {
		s := "System Err:\n\n" + rubyString(n.value())
		sysErr = &s
	}
	joined := func(n *junitNode) string {
		var parts []string
		if v := n.value(); v != nil {
			parts = append(parts, rubyString(v))
		}
		for _, p := range []*string{sysOut, sysErr} {
			if p != nil {
				parts = append(parts, *p)
			}
		}
		return strings.Join(parts, "\n\n")
	}
	switch {
	case nodes["failure"] != nil:
		c.Status, c.SystemOutput = TestFailed, joined(nodes["failure"])
	case nodes["error"] != nil:
		c.Status, c.SystemOutput = TestError, joined(nodes["error"])
	case nodes["skipped"] != nil:
		c.Status, c.SystemOutput = TestSkipped, nodes["skipped"].value()
	}
	sum := sha256.Sum256([]byte(suiteName + "_" + deref(c.Classname) + "_" + deref(c.Name)))
	c.Key = hex.EncodeToString(sum[:])
	return c
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// rubyToF is Ruby's String#to_f: the longest leading decimal number, else 0.
func rubyToF(s string) float64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	digits, dot, exp := false, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
			end = i + 1
		case (c == '+' || c == '-') && (i == 0 || (s[i-1] == 'e' || s[i-1] == 'E') && exp):
		case c == '.' && !dot && !exp:
			dot = true
		case (c == 'e' || c == 'E') && digits && !exp:
			exp = true
		case c == '_' && digits:
		default:
			i = len(s)
		}
	}
	if !digits {
		return 0
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimRight(s[:end], "eE+-"), "_", ""), 64)
	if err != nil {
		return 0
	}
	return f
}

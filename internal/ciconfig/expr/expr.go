// Package expr implements GitLab CI's variable expression language, the one
// behind rules:if, workflow:rules:if, include:rules:if and
// only/except:variables.
//
// It follows GitLab's implementation (lib/gitlab/ci/pipeline/expression)
// rather than an idealised grammar: lexemes are tried in GitLab's fixed order,
// the parser is the same shunting-yard with the same precedences and error
// messages, && and || return operands with Ruby truthiness, and the final
// answer is ActiveSupport's present?. Regular expressions are RE2, which
// Go's regexp package implements with the same syntax.
//
// Variables are never expanded recursively: a value containing "$OTHER" is
// compared as that literal text, as GitLab does.
package expr

import "strings"

// SyntaxError is returned by Parse. Message is GitLab's own text where GitLab
// has one ("Unknown lexeme found!", "Unmatched parenthesis", ...), so callers
// can log it; config validation reports "invalid expression syntax" instead.
type SyntaxError struct {
	Message string
}

// Error returns GitLab's message.
func (e *SyntaxError) Error() string { return e.Message }

// GitLab's messages, kept verbatim.
const (
	msgUnknownLexeme  = "Unknown lexeme found!"
	msgTooManyTokens  = "Too many tokens!"
	msgInvalidRegexp  = "Invalid regular expression!"
	msgUnmatchedParen = "Unmatched parenthesis"
	msgUnprocessable  = "Unprocessable token found in parse tree: parenthesis_open"
	msgInvalidOperand = "Invalid operand"
	msgInvalidLeft    = "Invalid left operand"
	msgUnreachable    = "Unreachable nodes in parse tree"
	msgEmptyParseTree = "Empty parse tree"
)

const (
	// maxTokens is Lexer::MAX_TOKENS.
	maxTokens = 100
	// Parenthesis precedences: ")" pops everything but "(".
	closeParenPriority = 900
	openParenPriority  = 901
)

func syntaxErr(msg string) error { return &SyntaxError{Message: msg} }

// Expr is a compiled expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root *node
}

// Env supplies what an expression can see. A nil function means nothing is
// defined there.
type Env struct {
	// Vars looks up CI/CD variables ($NAME); undefined variables are null.
	Vars func(name string) (string, bool)
	// Inputs looks up $[[ inputs.NAME ]] references; inputs may be booleans,
	// hence Value rather than string.
	Inputs func(name string) (Value, bool)
}

// Parse compiles an expression; errors carry GitLab's messages where they
// exist (e.g. invalid expression syntax, unknown lexeme).
func Parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		// GitLab raises a bare StatementError here; the parser's message
		// is the closest one with text.
		return nil, syntaxErr(msgEmptyParseTree)
	}
	root, err := parse(toks)
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, root: root}, nil
}

// MustParse is Parse for expressions known to be valid; it panics on error.
func MustParse(src string) *Expr {
	e, err := Parse(src)
	if err != nil {
		panic("expr: " + src + ": " + err.Error())
	}
	return e
}

// Source returns the text the expression was parsed from.
func (e *Expr) Source() string { return e.src }

// String renders the parse tree the way GitLab's Lexeme#inspect does, e.g.
// or($A, and($B, "x")). It is meant for tests and debugging.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.inspect(&b)
	return b.String()
}

// EvalEnv evaluates the expression. The error reports what would raise in
// GitLab at run time (for example comparing a regex literal with a string);
// GitLab treats such a statement as false.
func (e *Expr) EvalEnv(env Env) (Value, error) {
	return e.root.eval(&env)
}

// Eval evaluates against variables (lookup returns value and whether defined;
// undefined variables are nil/null). An evaluation error yields Null.
func (e *Expr) Eval(lookup func(name string) (string, bool)) Value {
	v, err := e.EvalEnv(Env{Vars: lookup})
	if err != nil {
		return Null()
	}
	return v
}

// Truthy is GitLab's final truthiness (present?): false for null, false,
// empty and whitespace-only strings, and for any evaluation error.
func (e *Expr) Truthy(lookup func(name string) (string, bool)) bool {
	return e.TruthyEnv(Env{Vars: lookup})
}

// TruthyEnv is Truthy with inputs as well as variables.
func (e *Expr) TruthyEnv(env Env) bool {
	v, err := e.EvalEnv(env)
	return err == nil && v.Present()
}

// Evaluate is Parse+Truthy for convenience.
func Evaluate(src string, vars map[string]string) (bool, error) {
	e, err := Parse(src)
	if err != nil {
		return false, err
	}
	return e.Truthy(MapLookup(vars)), nil
}

// Valid reports whether src is a syntactically valid expression (used by
// config validation: "jobs:x:rules:rule if invalid expression syntax").
// Like GitLab's Statement#valid?, it also evaluates once with no variables,
// so an expression that can only fail at run time is invalid too.
func Valid(src string) bool {
	e, err := Parse(src)
	if err != nil {
		return false
	}
	_, err = e.EvalEnv(Env{})
	return err == nil
}

// MapLookup adapts a map to the lookup function Eval and Truthy take.
func MapLookup(vars map[string]string) func(name string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

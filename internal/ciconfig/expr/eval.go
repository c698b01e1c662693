package expr

import (
	"errors"
	"strconv"
	"strings"
)

// EvalError is returned by EvalEnv for what raises in GitLab at evaluation
// time. GitLab then treats the statement as false (or, during config
// validation, as invalid).
type EvalError struct {
	Message string
}

// Error describes what GitLab would raise.
func (e *EvalError) Error() string { return e.Message }

var (
	// UntrustedRegexp#== calls other.source, which only a regexp has.
	errRegexpCompare = &EvalError{Message: "undefined method `source' for a non-regexp operand of =="}
	// Pattern.build_and_evaluate calls gsub on the right of =~, which a
	// boolean true does not have (nil and false short-circuit before it).
	errMatchBool = &EvalError{Message: "undefined method `gsub' for true on the right of =~"}
)

// IsEvalError reports whether err came from evaluation rather than parsing.
func IsEvalError(err error) bool {
	var e *EvalError
	return errors.As(err, &e)
}

type nodeKind uint8

const (
	nVar nodeKind = iota
	nInput
	nString
	nPattern
	nNull
	nBool
	nEq
	nNe
	nMatch
	nNotMatch
	nAnd
	nOr
	nNot
)

type node struct {
	kind        nodeKind
	text        string // variable/input name, string value, pattern text
	b           bool
	val         Value // compiled pattern
	left, right *node // operands; nNot uses left only
}

func (n *node) eval(env *Env) (Value, error) {
	switch n.kind {
	case nVar:
		if env.Vars != nil {
			if s, ok := env.Vars(n.text); ok {
				return Str(s), nil
			}
		}
		return Null(), nil
	case nInput:
		if env.Inputs != nil {
			if v, ok := env.Inputs(n.text); ok {
				return v, nil
			}
		}
		return Null(), nil
	case nString:
		return Str(n.text), nil
	case nPattern:
		return n.val, nil
	case nNull:
		return Null(), nil
	case nBool:
		return Boolean(n.b), nil
	case nNot:
		v, err := n.left.eval(env)
		if err != nil {
			return Value{}, err
		}
		return Boolean(!v.Present()), nil
	case nAnd, nOr:
		// Ruby's && and || return an operand and short-circuit, so the
		// right side is not evaluated (and cannot raise) when not needed.
		l, err := n.left.eval(env)
		if err != nil {
			return Value{}, err
		}
		if l.truthy() == (n.kind == nOr) {
			return l, nil
		}
		return n.right.eval(env)
	}

	// Binary comparisons evaluate both sides, left first.
	l, err := n.left.eval(env)
	if err != nil {
		return Value{}, err
	}
	r, err := n.right.eval(env)
	if err != nil {
		return Value{}, err
	}
	switch n.kind {
	case nEq, nNe:
		eq, err := l.Equal(r)
		if err != nil {
			return Value{}, err
		}
		return Boolean(eq == (n.kind == nEq)), nil
	default: // nMatch, nNotMatch
		m, err := match(l, r)
		if err != nil {
			return Value{}, err
		}
		return Boolean(m == (n.kind == nMatch)), nil
	}
}

// match is Lexeme::Matches#evaluate without the final negation: a nil or
// false right side never matches (so !~ is true), a string right side is
// tried as /regex/flags first, and the left side is always to_s'd, making
// an undefined variable "".
func match(l, r Value) (bool, error) {
	switch r.kind {
	case KindNull:
		return false, nil
	case KindBool:
		if !r.b {
			return false, nil
		}
		return false, errMatchBool
	case KindString:
		r = buildPattern(r.s)
	}
	text := l.String()
	if r.kind == KindRegexp {
		// regexp.scan(text).present?: any unanchored match, even an
		// empty one.
		return r.re.MatchString(text), nil
	}
	// A plain string: String#scan(text).present?, i.e. a substring test,
	// which is true for an empty left side.
	return strings.Contains(r.s, text), nil
}

var nodeNames = map[nodeKind]string{
	nEq:       "equals",
	nNe:       "not_equals",
	nMatch:    "matches",
	nNotMatch: "not_matches",
	nAnd:      "and",
	nOr:       "or",
	nNot:      "not",
}

// inspect mirrors GitLab's Lexeme#inspect methods.
func (n *node) inspect(b *strings.Builder) {
	switch n.kind {
	case nVar:
		b.WriteString("$" + n.text)
	case nInput:
		b.WriteString("$[[ inputs." + n.text + " ]]")
	case nString:
		b.WriteString(strconv.Quote(n.text))
	case nPattern:
		b.WriteString(n.text)
	case nNull:
		b.WriteString("null")
	case nBool:
		b.WriteString(strconv.FormatBool(n.b))
	case nNot:
		b.WriteString("not(")
		n.left.inspect(b)
		b.WriteString(")")
	default:
		b.WriteString(nodeNames[n.kind] + "(")
		n.left.inspect(b)
		b.WriteString(", ")
		n.right.inspect(b)
		b.WriteString(")")
	}
}

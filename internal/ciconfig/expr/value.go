package expr

import (
	"regexp"
	"unicode"
	"unicode/utf8"
)

// Kind is the Ruby type a Value stands for.
type Kind uint8

// The kinds of values an expression can produce.
const (
	KindNull Kind = iota
	KindString
	KindBool
	KindRegexp
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	case KindRegexp:
		return "regexp"
	default:
		return "null"
	}
}

// Value is the result of evaluating an expression or sub-expression. GitLab
// returns operands from && and ||, so a result is not always a boolean; keep
// Value and Present apart to reproduce quirks such as "" && "x" being "x".
type Value struct {
	kind Kind
	b    bool
	s    string // string value, or the RE2 source of a regexp
	re   *regexp.Regexp
}

// Null returns the null value (Ruby nil), also the value of undefined variables.
func Null() Value { return Value{} }

// Str returns a string value.
func Str(s string) Value { return Value{kind: KindString, s: s} }

// Boolean returns a boolean value.
func Boolean(b bool) Value { return Value{kind: KindBool, b: b} }

func regexpValue(src string, re *regexp.Regexp) Value {
	return Value{kind: KindRegexp, s: src, re: re}
}

// Kind reports the value's type.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsString returns the string and whether v is a string.
func (v Value) AsString() (string, bool) { return v.s, v.kind == KindString }

// AsBool returns the boolean and whether v is a boolean.
func (v Value) AsBool() (bool, bool) { return v.b, v.kind == KindBool }

// Regexp returns the compiled regexp of a regex value, or nil.
func (v Value) Regexp() *regexp.Regexp { return v.re }

// String is Ruby's to_s, which =~ applies to its left side: null is "",
// booleans are "true"/"false". A regexp has no stable to_s in GitLab (it is
// an object address), so a fixed placeholder is used.
func (v Value) String() string {
	switch v.kind {
	case KindString:
		return v.s
	case KindBool:
		if v.b {
			return "true"
		}
		return "false"
	case KindRegexp:
		return "#<Gitlab::UntrustedRegexp>"
	default:
		return ""
	}
}

// truthy is Ruby truthiness, used by && and ||: only nil and false are falsy,
// so an empty string is truthy there.
func (v Value) truthy() bool {
	switch v.kind {
	case KindNull:
		return false
	case KindBool:
		return v.b
	default:
		return true
	}
}

// Present is ActiveSupport's present?, GitLab's final truthiness: null,
// false, and blank strings (empty or only Unicode white space, as Ruby's
// [[:space:]]) are not present; everything else is.
func (v Value) Present() bool {
	switch v.kind {
	case KindNull:
		return false
	case KindBool:
		return v.b
	case KindString:
		for i := 0; i < len(v.s); {
			r, n := utf8.DecodeRuneInString(v.s[i:])
			if !unicode.IsSpace(r) {
				return true
			}
			i += n
		}
		return false
	default:
		return true
	}
}

// Equal is Ruby's == on two values. Values of different kinds are unequal,
// except that a regexp on the left raises in GitLab (UntrustedRegexp#== calls
// other.source), reported as an error.
func (v Value) Equal(o Value) (bool, error) {
	if v.kind == KindRegexp {
		if o.kind != KindRegexp {
			return false, errRegexpCompare
		}
		// UntrustedRegexp#== compares sources, flags prefix included.
		return v.s == o.s, nil
	}
	if v.kind != o.kind {
		return false, nil
	}
	switch v.kind {
	case KindString:
		return v.s == o.s, nil
	case KindBool:
		return v.b == o.b, nil
	default:
		return true, nil
	}
}

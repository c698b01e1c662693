package expr

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

// Token kinds, in GitLab's lexing order (Lexer::LEXEMES).
const (
	tParenOpen tokKind = iota
	tParenClose
	tInput
	tVar
	tString
	tPattern
	tNull
	tBool
	tEq
	tMatch
	tNe
	tNotMatch
	tAnd
	tOr
	tNot
)

type token struct {
	kind tokKind
	text string // the matched text
	val  string // variable/input name, string contents or pattern text
}

// Regexes for the lexemes whose shape is not a fixed word. They are applied
// to the rest of the input, so ^ is the scan position, as with Ruby's
// StringScanner. Go's leftmost-first matching picks what Ruby's backtracking
// picks, which matters for the greedy pattern lexeme.
var (
	// Lexeme::Input: \$\[\[\s*inputs\.(?<name>\w+)\s*\]\] with Ruby's \s.
	inputRE = regexp.MustCompile(`^\$\[\[[ \t\n\v\f\r]*inputs\.([A-Za-z0-9_]+)[ \t\n\v\f\r]*\]\]`)
	// Lexeme::Variable: \$(?<name>\w+); Ruby's \w is ASCII.
	varRE = regexp.MustCompile(`^\$([A-Za-z0-9_]+)`)
	// Lexeme::String: ("(?<string>.*?)")|('(?<string>.*?)'); no escapes and
	// no newline (Ruby's . excludes \n, like Go's).
	stringRE = regexp.MustCompile(`^(?:"(.*?)"|'(.*?)')`)
	// Lexeme::Pattern: ^\/([^\/]|\\/)+[^\\]\/[ismU]* — so the body has at
	// least two characters and / may be escaped as \/.
	patternRE = regexp.MustCompile(`^/(?:[^/]|\\/)+[^\\]/[ismU]*`)
)

// fixed lexemes after the value lexemes, in GitLab's order.
var fixedLexemes = []struct {
	text string
	kind tokKind
}{
	{"==", tEq},
	{"=~", tMatch},
	{"!=", tNe},
	{"!~", tNotMatch},
	{"&&", tAnd},
	{"||", tOr},
	{"!", tNot},
}

// isRubySpace is Ruby's \s: [ \t\r\n\f\v] (Go's \s lacks \v).
func isRubySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// lex tokenizes src like Lexer#tokenize, including its limit: the loop runs
// maxTokens times and only returns early at end of input, so at most
// maxTokens-1 tokens are accepted.
func lex(src string) ([]token, error) {
	var toks []token
	pos := 0
	for range maxTokens {
		for pos < len(src) && isRubySpace(src[pos]) {
			pos++
		}
		if pos == len(src) {
			return toks, nil
		}
		t, n, ok := scanOne(src[pos:])
		if !ok {
			return nil, syntaxErr(msgUnknownLexeme)
		}
		toks = append(toks, t)
		pos += n
	}
	return nil, syntaxErr(msgTooManyTokens)
}

// scanOne tries each lexeme in order at the start of rest.
func scanOne(rest string) (token, int, bool) {
	switch rest[0] {
	case '(':
		return token{kind: tParenOpen, text: "("}, 1, true
	case ')':
		return token{kind: tParenClose, text: ")"}, 1, true
	}
	if m := inputRE.FindStringSubmatch(rest); m != nil {
		return token{kind: tInput, text: m[0], val: m[1]}, len(m[0]), true
	}
	if m := varRE.FindStringSubmatch(rest); m != nil {
		return token{kind: tVar, text: m[0], val: m[1]}, len(m[0]), true
	}
	if m := stringRE.FindStringSubmatchIndex(rest); m != nil {
		// Ruby's match[:string] with a duplicated name is the group that
		// took part in the match.
		val := ""
		if m[2] >= 0 {
			val = rest[m[2]:m[3]]
		} else {
			val = rest[m[4]:m[5]]
		}
		return token{kind: tString, text: rest[:m[1]], val: val}, m[1], true
	}
	if m := patternRE.FindString(rest); m != "" {
		return token{kind: tPattern, text: m, val: m}, len(m), true
	}
	// Lexeme::Null is /null/ with no boundary: "nullx" is null, then x.
	if strings.HasPrefix(rest, "null") {
		return token{kind: tNull, text: "null"}, 4, true
	}
	// Lexeme::Boolean is \b(?:true|false)\b. The leading \b always holds at
	// the scan position; the trailing one needs a non-word character next.
	for _, w := range [...]string{"true", "false"} {
		if strings.HasPrefix(rest, w) && !wordAt(rest[len(w):]) {
			return token{kind: tBool, text: w, val: w}, len(w), true
		}
	}
	for _, f := range fixedLexemes {
		if strings.HasPrefix(rest, f.text) {
			return token{kind: f.kind, text: f.text}, len(f.text), true
		}
	}
	return token{}, 0, false
}

// wordAt reports whether s starts with a word character as Ruby's \b sees
// it: Onigmo's Unicode word (letter, mark, decimal digit, connector
// punctuation), since unlike Ruby's \w, \b is not limited to ASCII. Had we
// used ASCII only, the outcome would be the same: a word character cannot
// begin another lexeme, so the expression fails either way.
func wordAt(s string) bool {
	if s == "" {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) || unicode.Is(unicode.Pc, r)
}

package expr

import (
	"regexp"
	"strings"
)

// rubySyntax splits "/body/flags" as Gitlab::UntrustedRegexp::RubySyntax
// does with %r{^/(?<regexp>.*)/(?<flags>[ismU]*)$}. That is a Ruby regexp,
// so ^ and $ are line anchors and . stops at \n: the first line that starts
// with / and ends with /flags wins, and the body is greedy up to the last
// such /. Values with newlines are rare, but this keeps odd input agreeing
// with GitLab instead of guessing.
func rubySyntax(s string) (body, flags string, ok bool) {
	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		line := s[start:end]
		if len(line) >= 2 && line[0] == '/' {
			for k := len(line) - 1; k >= 1; k-- {
				if line[k] == '/' && onlyFlags(line[k+1:]) {
					return line[1:k], line[k+1:], true
				}
			}
		}
		if end == len(s) {
			break
		}
		start = end + 1
	}
	return "", "", false
}

func onlyFlags(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'i', 's', 'm', 'U':
		default:
			return false
		}
	}
	return true
}

// compileRubySyntax is RubySyntax.fabricate!: the flags become an RE2
// "(?flags)" prefix, and the result's source (used by ==) is that string.
func compileRubySyntax(s string) (Value, bool) {
	body, flags, ok := rubySyntax(s)
	if !ok {
		return Value{}, false
	}
	src := body
	if flags != "" {
		src = "(?" + flags + ")" + body
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return Value{}, false
	}
	return regexpValue(src, re), true
}

// unescapeSlashes is Pattern#initialize's gsub(%r{\\/}, '/').
func unescapeSlashes(s string) string {
	return strings.ReplaceAll(s, `\/`, "/")
}

// buildPattern is Lexeme::Pattern.build_and_evaluate for a string operand on
// the right of =~: a string that reads as /regex/flags and compiles is used
// as a regex; anything else stays the original string, matched as a
// substring.
func buildPattern(s string) Value {
	if v, ok := compileRubySyntax(unescapeSlashes(s)); ok {
		return v
	}
	return Str(s)
}

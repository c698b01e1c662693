package expr

import (
	"errors"
	"strings"
	"testing"
)

// specVars are the variables of GitLab's statement_spec.rb plus a few more
// for cases its table does not reach.
var specVars = map[string]string{
	"PRESENT_VARIABLE":   "my variable",
	"PATH_VARIABLE":      "a/path/variable/value",
	"FULL_PATH_VARIABLE": "/a/full/path/variable/value",
	"EMPTY_VARIABLE":     "",
	"teststring":         "abcde",
	"pattern1":           "/^ab.*/",
	"pattern2":           "/^at.*/",
	"BRANCH":             "main",
	"BLANK":              " \t\n",
	"NBSP":               "\u00a0",
	"NESTED":             "$PRESENT_VARIABLE",
	"CURLY":              "${PRESENT_VARIABLE}",
	"INVALID_RE":         "/(/",
	"UPPER_RE":           "/MAIN/i",
	"ESCAPED_RE":         `\/ma\/`,
	"SLASH_RE":           `/a\/path/`,
	"ONE_CHAR_RE":        "/m/",
	"EMPTY_RE":           "//",
	"TRUE":               "true",
	"MULTILINE":          "first\nsecond",
	"NEWLINE_RE":         "x\n/^ab/",
	"UNICODE":            "café",
}

func sameValue(a, b Value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case KindString, KindRegexp:
		return a.s == b.s
	case KindBool:
		return a.b == b.b
	}
	return true
}

func show(v Value) string {
	switch v.kind {
	case KindString:
		return `"` + v.s + `"`
	case KindRegexp:
		return "/" + v.s + "/"
	case KindNull:
		return "null"
	}
	return v.String()
}

// TestEvalGitLabSpec ports the #evaluate table of GitLab's statement_spec.rb,
// which pins the value (not only truthiness) that && and || return.
func TestEvalGitLabSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want Value
	}{
		{`$PRESENT_VARIABLE == "my variable"`, Boolean(true)},
		{`"my variable" == $PRESENT_VARIABLE`, Boolean(true)},
		{`$PRESENT_VARIABLE == null`, Boolean(false)},
		{`$EMPTY_VARIABLE == null`, Boolean(false)},
		{`"" == $EMPTY_VARIABLE`, Boolean(true)},
		{`$EMPTY_VARIABLE`, Str("")},
		{`$UNDEFINED_VARIABLE == null`, Boolean(true)},
		{`null == $UNDEFINED_VARIABLE`, Boolean(true)},
		{`$PRESENT_VARIABLE`, Str("my variable")},
		{`$UNDEFINED_VARIABLE`, Null()},
		{`$PRESENT_VARIABLE =~ /var.*e$/`, Boolean(true)},
		{`$PRESENT_VARIABLE =~ /va\r.*e$/`, Boolean(false)},
		{`$PRESENT_VARIABLE =~ /va\/r.*e$/`, Boolean(false)},
		{`$PRESENT_VARIABLE =~ /^var.*/`, Boolean(false)},
		{`$EMPTY_VARIABLE =~ /var.*/`, Boolean(false)},
		{`$UNDEFINED_VARIABLE =~ /var.*/`, Boolean(false)},
		{`$PRESENT_VARIABLE =~ /VAR.*/i`, Boolean(true)},
		{`$PATH_VARIABLE =~ /path\/variable/`, Boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/`, Boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /\/path\/variable\/value$/`, Boolean(true)},
		{`$PRESENT_VARIABLE != "my variable"`, Boolean(false)},
		{`"my variable" != $PRESENT_VARIABLE`, Boolean(false)},
		{`$PRESENT_VARIABLE != null`, Boolean(true)},
		{`$EMPTY_VARIABLE != null`, Boolean(true)},
		{`"" != $EMPTY_VARIABLE`, Boolean(false)},
		{`$UNDEFINED_VARIABLE != null`, Boolean(false)},
		{`null != $UNDEFINED_VARIABLE`, Boolean(false)},
		{`$PRESENT_VARIABLE !~ /var.*e$/`, Boolean(false)},
		{`$PRESENT_VARIABLE !~ /^var.*/`, Boolean(true)},
		{`$PRESENT_VARIABLE !~ /^v\ar.*/`, Boolean(true)},
		{`$PRESENT_VARIABLE !~ /^v\/ar.*/`, Boolean(true)},
		{`$EMPTY_VARIABLE !~ /var.*/`, Boolean(true)},
		{`$UNDEFINED_VARIABLE !~ /var.*/`, Boolean(true)},
		{`$PRESENT_VARIABLE !~ /VAR.*/i`, Boolean(false)},

		{`$PRESENT_VARIABLE && "string"`, Str("string")},
		{`$PRESENT_VARIABLE && $PRESENT_VARIABLE`, Str("my variable")},
		{`$PRESENT_VARIABLE && $EMPTY_VARIABLE`, Str("")},
		{`$PRESENT_VARIABLE && null`, Null()},
		{`"string" && $PRESENT_VARIABLE`, Str("my variable")},
		{`$EMPTY_VARIABLE && $PRESENT_VARIABLE`, Str("my variable")},
		{`null && $PRESENT_VARIABLE`, Null()},
		{`$EMPTY_VARIABLE && "string"`, Str("string")},
		{`$EMPTY_VARIABLE && $EMPTY_VARIABLE`, Str("")},
		{`"string" && $EMPTY_VARIABLE`, Str("")},
		{`"string" && null`, Null()},
		{`null && "string"`, Null()},
		{`"string" && "string"`, Str("string")},
		{`null && null`, Null()},

		{`$PRESENT_VARIABLE =~ /my var/ && $EMPTY_VARIABLE =~ /nope/`, Boolean(false)},
		{`$EMPTY_VARIABLE == "" && $PRESENT_VARIABLE`, Str("my variable")},
		{`$EMPTY_VARIABLE == "" && $PRESENT_VARIABLE != "nope"`, Boolean(true)},
		{`$PRESENT_VARIABLE && $UNDEFINED_VARIABLE`, Null()},
		{`$UNDEFINED_VARIABLE && $EMPTY_VARIABLE`, Null()},
		{`$UNDEFINED_VARIABLE && $PRESENT_VARIABLE`, Null()},

		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/ && $PATH_VARIABLE =~ /path\/variable/`, Boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ && $PATH_VARIABLE =~ /path\/variable/`, Boolean(false)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/ && $PATH_VARIABLE =~ /bad\/path\/variable/`, Boolean(false)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ && $PATH_VARIABLE =~ /bad\/path\/variable/`, Boolean(false)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/ || $PATH_VARIABLE =~ /path\/variable/`, Boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ || $PATH_VARIABLE =~ /path\/variable/`, Boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/full\/path\/variable\/value$/ || $PATH_VARIABLE =~ /bad\/path\/variable/`, Boolean(true)},
		{`$FULL_PATH_VARIABLE =~ /^\/a\/bad\/path\/variable\/value$/ || $PATH_VARIABLE =~ /bad\/path\/variable/`, Boolean(false)},

		{`$PRESENT_VARIABLE =~ /my var/ || $EMPTY_VARIABLE =~ /nope/`, Boolean(true)},
		{`$EMPTY_VARIABLE == "" || $PRESENT_VARIABLE`, Boolean(true)},
		{`$PRESENT_VARIABLE != "nope" || $EMPTY_VARIABLE == ""`, Boolean(true)},

		{`$PRESENT_VARIABLE && null || $EMPTY_VARIABLE == ""`, Boolean(true)},
		{`$PRESENT_VARIABLE || $UNDEFINED_VARIABLE`, Str("my variable")},
		{`$UNDEFINED_VARIABLE || $PRESENT_VARIABLE`, Str("my variable")},
		{`$UNDEFINED_VARIABLE == null || $PRESENT_VARIABLE`, Boolean(true)},
		{`$PRESENT_VARIABLE || $UNDEFINED_VARIABLE == null`, Str("my variable")},

		{`($PRESENT_VARIABLE)`, Str("my variable")},
		{`(($PRESENT_VARIABLE))`, Str("my variable")},
		{`(($PRESENT_VARIABLE && null) || $EMPTY_VARIABLE == "")`, Boolean(true)},
		{`($PRESENT_VARIABLE) && (null || $EMPTY_VARIABLE == "")`, Boolean(true)},
		{`("string" || "test") == "string"`, Boolean(true)},
		{`(null || ("test" == "string"))`, Boolean(false)},
		{`("string" == ("test" && "string"))`, Boolean(true)},
		{`("string" == ("test" || "string"))`, Boolean(false)},
		{`("string" == "test" || "string")`, Str("string")},
		{`("string" == ("string" || (("1" == "1") && ("2" == "3"))))`, Boolean(true)},

		// Beyond GitLab's table.
		{`$EMPTY_VARIABLE || $PRESENT_VARIABLE`, Str("")},
		{`$UNDEFINED_VARIABLE || null`, Null()},
		{`null || $UNDEFINED_VARIABLE == "x"`, Boolean(false)},
		{`/ab/`, regexpValue("ab", nil)},
		{`/ab/im`, regexpValue("(?im)ab", nil)},
		{`true`, Boolean(true)},
		{`false || "x"`, Str("x")},
		{`!$PRESENT_VARIABLE`, Boolean(false)},
		{`!$UNDEFINED_VARIABLE`, Boolean(true)},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := e.Eval(MapLookup(specVars))
			if !sameValue(got, tt.want) {
				t.Errorf("Eval = %s, want %s", show(got), show(tt.want))
			}
		})
	}
}

// TestTruthy is the main behaviour table: expression -> GitLab's
// Statement#truthful? with specVars.
func TestTruthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want bool
	}{
		// statement_spec.rb #truthful?
		{`$PRESENT_VARIABLE == "my variable"`, true},
		{`$PRESENT_VARIABLE == 'no match'`, false},
		{`$UNDEFINED_VARIABLE == null`, true},
		{`$PRESENT_VARIABLE`, true},
		{`$UNDEFINED_VARIABLE`, false},
		{`$EMPTY_VARIABLE`, false},
		{`$INVALID = 1`, false},
		{`$PRESENT_VARIABLE =~ /var.*/`, true},
		{`$UNDEFINED_VARIABLE =~ /var.*/`, false},
		{`$PRESENT_VARIABLE !~ /var.*/`, false},
		{`$UNDEFINED_VARIABLE !~ /var.*/`, true},
		// statement_spec.rb "when variables have patterns"
		{`$teststring =~ "abcde"`, true},
		{`$teststring =~ $teststring`, true},
		{`$teststring =~ $pattern1`, true},
		{`$teststring =~ $pattern2`, false},

		// Strings in both quote styles; no escapes inside.
		{`$BRANCH == 'main'`, true},
		{`$BRANCH == "main"`, true},
		{`'main' == "main"`, true},
		{`"it's" == "it's"`, true},
		{`'say "hi"' == 'say "hi"'`, true},
		{`"" == ''`, true},
		{`"a\"b" == "x"`, false}, // lexes as "a\" b" == "x" -> invalid
		{`"main"`, true},
		{`""`, false},
		{`" "`, false}, // blank strings are not present

		// Blank and empty values are falsy at the end, truthy inside && / ||.
		{`$BLANK`, false},
		{`$NBSP`, false},
		{`$EMPTY_VARIABLE && $PRESENT_VARIABLE`, true},
		{`$EMPTY_VARIABLE || $PRESENT_VARIABLE`, false},
		{`$BLANK || $PRESENT_VARIABLE`, false},
		{`$UNDEFINED_VARIABLE || $PRESENT_VARIABLE`, true},
		{`$PRESENT_VARIABLE && $EMPTY_VARIABLE`, false},
		{`$EMPTY_VARIABLE == ""`, true},

		// null comparisons.
		{`null`, false},
		{`null == null`, true},
		{`null != null`, false},
		{`$UNDEFINED_VARIABLE == $ALSO_UNDEFINED`, true},
		{`$UNDEFINED_VARIABLE == ""`, false},
		{`$EMPTY_VARIABLE == null`, false},
		{`$UNDEFINED_VARIABLE != ""`, true},
		{`null == ""`, false},

		// Booleans compare only with booleans.
		{`$TRUE == true`, false},
		{`$TRUE == "true"`, true},
		{`true == true`, true},
		{`true != false`, true},
		{`false`, false},
		{`true && false`, false},

		// Unary not binds tightest and uses present?.
		{`!$EMPTY_VARIABLE`, true},
		{`!$BLANK`, true},
		{`!$PRESENT_VARIABLE`, false},
		{`!!$PRESENT_VARIABLE`, true},
		{`!($BRANCH == "main")`, false},
		{`!$BRANCH == "main"`, false}, // (!$BRANCH) == "main": false == "main"
		{`!$BRANCH == false`, true},   // (!$BRANCH) == false
		{`$BRANCH == !$UNDEF`, false}, // "main" == true
		{`!$UNDEF && $BRANCH`, true},  // (!$UNDEF) && $BRANCH
		{`$BRANCH !`, false},          // RPN quirk: postfix ! is accepted as !$BRANCH
		{`! $UNDEF || $UNDEF`, true},  // (!$UNDEF) || $UNDEF
		{`!($UNDEF || $BRANCH)`, false},

		// Regex literals and flags.
		{`$BRANCH =~ /^ma/`, true},
		{`$BRANCH =~ /^MA/`, false},
		{`$BRANCH =~ /^MA/i`, true},
		{`$MULTILINE =~ /^second$/`, false},
		{`$MULTILINE =~ /^second$/m`, true},
		{`$MULTILINE =~ /first.second/`, false},
		{`$MULTILINE =~ /first.second/s`, true},
		{`$BRANCH =~ /m.+?/U`, true},
		{`$BRANCH =~ /ai/`, true}, // unanchored
		{`$BRANCH =~ /\bmain\b/`, true},
		{`$UNICODE =~ /^caf.$/`, true}, // UTF-8 aware
		{`$BRANCH =~ /(x)?main/`, true},
		{`$BRANCH =~ /x*/`, true}, // an empty match counts
		{`$UNDEF =~ /x*/`, true},  // "" still matches an empty pattern
		{`$BRANCH =~ /ma\//`, false},
		{`$PATH_VARIABLE =~ /a\/path/`, true},

		// =~ with a string on the right.
		{`"ai" =~ $BRANCH`, true},                // left is a substring of right
		{`$BRANCH =~ "ai"`, false},               // not the other way round
		{`"23" =~ "1234"`, true},                 // left inside right (doc quirk)
		{`"1234" =~ "23"`, false},                //
		{`$UNDEF =~ "anything"`, true},           // "" is a substring of anything
		{`$BRANCH =~ ""`, false},                 //
		{`$BRANCH =~ $UPPER_RE`, true},           // "/MAIN/i" from a variable is a regex
		{`$BRANCH !~ $UPPER_RE`, false},          //
		{`$BRANCH =~ "/^ma/"`, true},             // so is a quoted literal
		{`"/(/" =~ $INVALID_RE`, true},           // invalid regex: plain substring
		{`"(" =~ $INVALID_RE`, true},             //
		{`$BRANCH =~ $INVALID_RE`, false},        //
		{`$BRANCH !~ $INVALID_RE`, true},         //
		{`$BRANCH =~ $ESCAPED_RE`, true},         // \/ unescaped before reading /.../
		{`"xa/pathx" =~ $SLASH_RE`, true},        //
		{`$BRANCH =~ $ONE_CHAR_RE`, true},        // one-char body is fine in a variable
		{`$BRANCH =~ $EMPTY_RE`, true},           // "//" is the empty regex
		{`$teststring =~ $NEWLINE_RE`, true},     // Ruby's ^…$ are line anchors
		{`$BRANCH =~ $UNDEF`, false},             // nil right side
		{`$BRANCH !~ $UNDEF`, true},              //
		{`$BRANCH =~ null`, false},               //
		{`$BRANCH !~ null`, true},                //
		{`$BRANCH =~ false`, false},              //
		{`$BRANCH !~ false`, true},               //
		{`$BRANCH =~ true`, false},               // raises in GitLab -> false
		{`$BRANCH !~ true`, false},               // raises too
		{`true =~ /^tr/`, true},                  // left side is to_s'd
		{`null =~ /^$/`, true},                   //
		{`$NESTED == "my variable"`, false},      // no recursive expansion
		{`$NESTED == "$PRESENT_VARIABLE"`, true}, //
		{`$CURLY =~ "PRESENT"`, false},           // substring of the right, not the left
		{`"PRESENT" =~ $CURLY`, true},            //

		// Regex equality and errors.
		{`/ab/ == /ab/`, true},
		{`/ab/i == /(?i)ab/`, true}, // UntrustedRegexp#== compares RE2 sources
		{`/ab/ == /ac/`, false},
		{`/ab/ == "ab"`, false}, // raises in GitLab
		{`/ab/ != "ab"`, false}, // raises in GitLab
		{`"ab" == /ab/`, false},
		{`"ab" != /ab/`, true},
		{`null == /ab/`, false},
		{`/ab/`, true},
		{`/xy/ =~ /xy/`, false}, // left is the regexp's to_s, "#<Gitlab::UntrustedRegexp…>"
		{`/ab/ =~ /ab/`, true},  // …which contains "ab" (Gitlab)
		{`$UNDEF && /ab/ == "ab"`, false},
		{`$BRANCH || /ab/ == "ab"`, true}, // short-circuit avoids the error

		// Precedence and associativity.
		{`$UNDEF || $BRANCH && $EMPTY_VARIABLE`, false}, // a || (b && c) -> ""
		{`$BRANCH && $EMPTY_VARIABLE || $UNDEF`, false},
		{`$BRANCH && $UNDEF || $PRESENT_VARIABLE`, true},
		{`$BRANCH == "main" && $PRESENT_VARIABLE == "x" || $EMPTY_VARIABLE == ""`, true},
		{`$BRANCH == "main" && ($PRESENT_VARIABLE == "x" || $EMPTY_VARIABLE == "")`, true},
		{`($BRANCH == "x" || $BRANCH == "main") && $EMPTY_VARIABLE`, false},
		{`"a" == "a" == true`, true},    // (a == a) == true
		{`"a" == ("a" == true)`, false}, //
		{`$BRANCH == "main" == "main"`, false},

		// Lexing: whitespace, null prefix, adjacency.
		{"\t$BRANCH\n==\v'main'\f", true},
		{`$BRANCH=="main"`, true},
		{`($BRANCH)=="main"`, true},
		{`$BRANCH=~/^ma/&&$PRESENT_VARIABLE`, true},

		// Invalid expressions are false.
		{`${BRANCH} == "main"`, false},
		{`%BRANCH% == "main"`, false},
		{`$BRANCH == main`, false},
		{`$BRANCH =~ /./`, false},        // body too short
		{`$BRANCH =~ /^ma/x`, false},     // x is not a flag GitLab lexes
		{`$BRANCH =~ /(ma/`, false},      // invalid RE2
		{`$BRANCH =~ /(?<=a)in/`, false}, // RE2 has no lookbehind
		{`nullx`, false},
		{`truex`, false},
		{`$BRANCH == "main" &&`, false},
		{`($BRANCH == "main"`, false},
		{`$BRANCH == "main")`, false},
		{``, false},
		{`   `, false},
	}
	lookup := MapLookup(specVars)
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr)
			if err != nil {
				if tt.want {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if got := e.Truthy(lookup); got != tt.want {
				v, evalErr := e.EvalEnv(Env{Vars: lookup})
				t.Errorf("Truthy = %v, want %v (value %s, err %v, tree %s)", got, tt.want, show(v), evalErr, e)
			}
			got, err := Evaluate(tt.expr, specVars)
			if err != nil || got != tt.want {
				t.Errorf("Evaluate = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestParseErrors pins which expressions GitLab rejects and with what
// message; the config validator turns all of them into "invalid expression
// syntax".
func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		msg  string
	}{
		// statement_spec.rb / parser_spec.rb
		{`$VAR "text"`, msgUnreachable},
		{`== "123"`, msgInvalidLeft},
		{`$VAR ==`, msgInvalidLeft}, // GitLab checks the left operand first
		{`12345`, msgUnknownLexeme},
		{``, msgEmptyParseTree},
		{`$V1 123 $V2`, msgUnknownLexeme},
		{`$VAR == (`, msgUnprocessable},
		{`$VAR2 == ("aa"`, msgUnprocessable},
		{`$VAR2 == ("aa"))`, msgUnmatchedParen},
		{`$VAR2 == "aa")`, msgUnmatchedParen},
		{`(($VAR2 == "aa")`, msgUnprocessable},
		{`($VAR2 == "aa"))`, msgUnmatchedParen},
		{`$INVALID = 1`, msgUnknownLexeme},
		// pattern_spec.rb
		{`/ some ( thin/i`, msgInvalidRegexp},
		{`//`, msgUnknownLexeme},
		{`$X =~ /./`, msgUnknownLexeme},
		{`$X =~ /a/`, msgUnknownLexeme},
		{`$X =~ /pattern/x`, msgUnknownLexeme},
		// More.
		{" \t\n", msgEmptyParseTree},
		{`()`, msgEmptyParseTree},
		{`(`, msgUnprocessable},
		{`)`, msgUnmatchedParen},
		{`!`, msgInvalidOperand},
		{`!)`, msgUnmatchedParen},
		{`$A && && $B`, msgInvalidLeft},
		{`$A $B == "x"`, msgUnreachable},
		{`${VAR}`, msgUnknownLexeme},
		{`%VAR%`, msgUnknownLexeme},
		{`$`, msgUnknownLexeme},
		{`$é`, msgUnknownLexeme},
		{`"unterminated`, msgUnknownLexeme},
		{"\"multi\nline\"", msgUnknownLexeme},
		{`'a' = 'a'`, msgUnknownLexeme},
		{`$A & $B`, msgUnknownLexeme},
		{`$A | $B`, msgUnknownLexeme},
		{`$A === $B`, msgUnknownLexeme}, // ==, then a lone = is unknown
		{`nullx`, msgUnknownLexeme},
		{`trueish`, msgUnknownLexeme},
		{`True`, msgUnknownLexeme},
		{`NULL`, msgUnknownLexeme},
		{`$X =~ /(/`, msgUnknownLexeme}, // one-char body: not a pattern lexeme at all
		{`$X =~ /(a/`, msgInvalidRegexp},
		{`$X =~ /a{1001}/`, msgInvalidRegexp},
		{`$X =~ /\C./`, msgInvalidRegexp},
		{`$X =~ /ab/ == /(a/`, msgInvalidRegexp},
		{`$X == ) /(a/`, msgUnmatchedParen}, // RPN errors come before build errors
		{`/(a/ $X`, msgInvalidRegexp},       // build errors before the final count
		{`$[[ inputs.x ]`, msgUnknownLexeme},
		{`$[[ input.x ]]`, msgUnknownLexeme},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse succeeded: %s", e)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			if err.Error() != tt.msg {
				t.Errorf("error = %q, want %q", err, tt.msg)
			}
			if Valid(tt.expr) {
				t.Error("Valid = true")
			}
			if _, err := Evaluate(tt.expr, specVars); err == nil {
				t.Error("Evaluate returned no error")
			}
		})
	}
}

// TestTree ports parser_spec.rb's tree shapes, which fix precedence and
// associativity.
func TestTree(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string
	}{
		{`$VAR1 == "123"`, `equals($VAR1, "123")`},
		{`$VAR1 == "123" == $VAR2`, `equals(equals($VAR1, "123"), $VAR2)`},
		{`$VAR`, `$VAR`},
		{`"some value"`, `"some value"`},
		{`null`, `null`},
		{`$VAR1 || $VAR2 && $VAR3`, `or($VAR1, and($VAR2, $VAR3))`},
		{`$VAR1 && $VAR2 || $VAR3`, `or(and($VAR1, $VAR2), $VAR3)`},
		{`$VAR1 && $VAR2 || $VAR3 && $VAR4`, `or(and($VAR1, $VAR2), and($VAR3, $VAR4))`},
		{`$VAR1 && ($VAR2 || $VAR3) && $VAR4`, `and(and($VAR1, or($VAR2, $VAR3)), $VAR4)`},
		{`$VAR1 == "a" || $VAR2 == "b" && $VAR3 == "c" || $VAR4 == "d" && $VAR5 == "e"`,
			`or(or(equals($VAR1, "a"), and(equals($VAR2, "b"), equals($VAR3, "c"))), and(equals($VAR4, "d"), equals($VAR5, "e")))`},
		{`(($VAR1 == "a" || $VAR2 == "b") && $VAR3 == "c" || $VAR4 == "d") && $VAR5 == "e"`,
			`and(or(and(or(equals($VAR1, "a"), equals($VAR2, "b")), equals($VAR3, "c")), equals($VAR4, "d")), equals($VAR5, "e"))`},
		// More.
		{`$A =~ /x\/y/i != $B !~ "z"`, `not_matches(not_equals(matches($A, /x/y/i), $B), "z")`},
		{`$A || $B || $C`, `or(or($A, $B), $C)`},
		{`$A && $B && $C`, `and(and($A, $B), $C)`},
		{`!$A == $B`, `equals(not($A), $B)`},
		{`!($A == $B)`, `not(equals($A, $B))`},
		{`$A == !$B && !!$C`, `and(equals($A, not($B)), not(not($C)))`},
		{`$A !`, `not($A)`},
		{`$[[ inputs.cloud ]] == true`, `equals($[[ inputs.cloud ]], true)`},
		{`$[[inputs.cloud]]`, `$[[ inputs.cloud ]]`},
		{`'a"b'`, `"a\"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("tree = %s, want %s", got, tt.want)
			}
			if e.Source() != tt.expr {
				t.Errorf("Source = %q", e.Source())
			}
		})
	}
}

// TestLex ports lexer_spec.rb and checks lexeme order details.
func TestLex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want []string
	}{
		{`$VARIABLE`, []string{`$VARIABLE`}},
		{"\t$VARIABLE ", []string{`$VARIABLE`}},
		{`$VARIABLE1 $VARIABLE2`, []string{`$VARIABLE1`, `$VARIABLE2`}},
		{`$VARIABLE "text" "value"`, []string{`$VARIABLE`, `"text"`, `"value"`}},
		{`$VARIABLE == "text"`, []string{`$VARIABLE`, `==`, `"text"`}},
		{`$PRESENT_VARIABLE =~ /my var/ && $EMPTY_VARIABLE =~ /nope/`, []string{`$PRESENT_VARIABLE`, `=~`, `/my var/`, `&&`, `$EMPTY_VARIABLE`, `=~`, `/nope/`}},
		{`$EMPTY_VARIABLE == "" && $PRESENT_VARIABLE`, []string{`$EMPTY_VARIABLE`, `==`, `""`, `&&`, `$PRESENT_VARIABLE`}},
		{`$EMPTY_VARIABLE == "" || $PRESENT_VARIABLE != "nope"`, []string{`$EMPTY_VARIABLE`, `==`, `""`, `||`, `$PRESENT_VARIABLE`, `!=`, `"nope"`}},
		{`$PRESENT_VARIABLE && null || $EMPTY_VARIABLE == ""`, []string{`$PRESENT_VARIABLE`, `&&`, `null`, `||`, `$EMPTY_VARIABLE`, `==`, `""`}},
		{`($PRESENT_VARIABLE && (null || $EMPTY_VARIABLE == ""))`, []string{`(`, `$PRESENT_VARIABLE`, `&&`, `(`, `null`, `||`, `$EMPTY_VARIABLE`, `==`, `""`, `)`, `)`}},
		// pattern_spec.rb: eager boundaries and escapes.
		{`/some .* \/ pattern/`, []string{`/some .* \/ pattern/`}},
		{`/pattern/im`, []string{`/pattern/im`}},
		{`/ab//`, []string{`/ab//`}}, // [^\\] may be the slash itself
		{`/a\//`, []string{`/a\//`}},
		// Order: != before !, =~ before !~, null as a prefix.
		{`!$A != !$B`, []string{`!`, `$A`, `!=`, `!`, `$B`}},
		{`$A!~$B`, []string{`$A`, `!~`, `$B`}},
		{`null==null`, []string{`null`, `==`, `null`}},
		{`$nullx`, []string{`$nullx`}},
		{`$[[ inputs.a_b ]]`, []string{`$[[ inputs.a_b ]]`}},
		{`"a'b" 'c"d'`, []string{`"a'b"`, `'c"d'`}},
		{`true)`, []string{`true`, `)`}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			toks, err := lex(tt.expr)
			if err != nil {
				t.Fatalf("lex: %v", err)
			}
			var got []string
			for _, tk := range toks {
				got = append(got, tk.text)
			}
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
				t.Errorf("tokens = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPatternIsEager is pattern_spec.rb's "eager scanner for regexp
// boundaries": the literal ends at the first unescaped slash that can end it.
func TestPatternIsEager(t *testing.T) {
	t.Parallel()
	const src = `/some .* / pattern/`
	tok, n, ok := scanOne(src)
	if !ok || tok.kind != tPattern || src[:n] != `/some .* /` {
		t.Fatalf("first lexeme = %q (kind %d, ok %v)", src[:n], tok.kind, ok)
	}
	if _, err := lex(src); err == nil || err.Error() != msgUnknownLexeme {
		t.Fatalf("lex error = %v, want %q", err, msgUnknownLexeme)
	}
}

// TestPatternSource checks how regex literals become RE2 (pattern_spec.rb).
func TestPatternSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string
	}{
		{`/pattern/`, `pattern`},
		{`/pattern/i`, `(?i)pattern`},
		{`/pattern/im`, `(?im)pattern`},
		{`/pattern/smiU`, `(?smiU)pattern`},
		{`/some .* \/ pattern/`, `some .* / pattern`},
		{`/some numeric \/$ pattern/`, `some numeric /$ pattern`},
		{`/some numeric \$ pattern/`, `some numeric \$ pattern`},
		{`/ab//`, `ab/`},
		{`/.*/`, `.*`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			v := e.Eval(nil)
			if v.Kind() != KindRegexp || v.s != tt.want || v.Regexp() == nil || v.Regexp().String() != tt.want {
				t.Errorf("value = %s (%v), want /%s/", show(v), v.Regexp(), tt.want)
			}
		})
	}
}

func TestRubySyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, body, flags string
		ok              bool
	}{
		{"/foo/", "foo", "", true},
		{"/foo/i", "foo", "i", true},
		{"/a/i/", "a/i", "", true},
		{"/a/iz", "", "", false},
		{"//", "", "", true},
		{"/", "", "", false},
		{"foo", "", "", false},
		{"/ab\ncd/", "", "", false},
		{"x\n/ab/m", "ab", "m", true},
		{"/ab/\nx", "ab", "", true},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			body, flags, ok := rubySyntax(tt.in)
			if body != tt.body || flags != tt.flags || ok != tt.ok {
				t.Errorf("rubySyntax = %q, %q, %v; want %q, %q, %v", body, flags, ok, tt.body, tt.flags, tt.ok)
			}
		})
	}
}

// TestTokenLimit pins Lexer's off-by-one: 99 tokens pass, 100 do not.
func TestTokenLimit(t *testing.T) {
	t.Parallel()
	chain := func(n int) string { // n values joined by ||: 2n-1 tokens
		return strings.Repeat("$A || ", n-1) + "$A"
	}
	tests := []struct {
		name   string
		expr   string
		tokens int
		ok     bool
	}{
		{"99", chain(50), 99, true},
		{"99 with trailing space", chain(50) + "   ", 99, true},
		{"99 with parens", "(" + chain(49) + ")", 99, true},
		{"100", "!" + chain(50), 100, false},
		{"101", chain(51), 101, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.ok {
				if toks, err := lex(tt.expr); err != nil || len(toks) != tt.tokens {
					t.Fatalf("lex = %d tokens, %v; want %d", len(toks), err, tt.tokens)
				}
			}
			_, err := Parse(tt.expr)
			if tt.ok && err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tt.ok && (err == nil || err.Error() != msgTooManyTokens) {
				t.Fatalf("error = %v, want %q", err, msgTooManyTokens)
			}
		})
	}
}

// TestValid covers config-time validation, which also evaluates once with
// no variables.
func TestValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want bool
	}{
		{`$CI_COMMIT_BRANCH == "main"`, true},
		{`$CI_COMMIT_BRANCH =~ /^release\/.*$/`, true},
		{`$A`, true},
		{`$A =~ $B`, true},
		{`$CI_COMMIT_BRANCH == main`, false},
		{`$A =~ /./`, false},
		{`/ab/ == "x"`, false},     // raises when evaluated
		{`$A =~ true`, false},      // raises when evaluated
		{`$A && $B =~ true`, true}, // not reached with no variables
		{`$A == true`, true},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			if got := Valid(tt.expr); got != tt.want {
				t.Errorf("Valid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInputs(t *testing.T) {
	t.Parallel()
	inputs := map[string]Value{
		"cloud_provider": Str("aws"),
		"environment":    Str("production"),
		"deploy":         Boolean(true),
	}
	env := Env{
		Vars: MapLookup(specVars),
		Inputs: func(name string) (Value, bool) {
			v, ok := inputs[name]
			return v, ok
		},
	}
	tests := []struct {
		expr string
		want bool
	}{
		{`$[[ inputs.cloud_provider ]] == "aws"`, true},
		{`$[[ inputs.cloud_provider ]] == "gcp"`, false},
		{`$[[ inputs.cloud_provider ]] == "aws" && $[[ inputs.environment ]] == "production"`, true},
		{`$[[ inputs.deploy ]] == true`, true},
		{`$[[ inputs.deploy ]]`, true},
		{`$[[ inputs.missing ]] == null`, true},
		{`!$[[ inputs.missing ]]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			e := MustParse(tt.expr)
			if got := e.TruthyEnv(env); got != tt.want {
				t.Errorf("TruthyEnv = %v, want %v", got, tt.want)
			}
			// Without an Inputs function every input is null.
			if e.Truthy(MapLookup(specVars)) && tt.expr != `$[[ inputs.missing ]] == null` && tt.expr != `!$[[ inputs.missing ]]` {
				t.Error("Truthy without inputs = true")
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	tests := []string{
		`/ab/ == "ab"`,
		`/ab/ != null`,
		`/ab/ == true`,
		`$BRANCH =~ true`,
		`$BRANCH !~ ("a" == "a")`,
		`!(/a b/ == $BRANCH)`,
	}
	for _, src := range tests {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			e := MustParse(src)
			_, err := e.EvalEnv(Env{Vars: MapLookup(specVars)})
			if !IsEvalError(err) {
				t.Fatalf("EvalEnv error = %v, want an *EvalError", err)
			}
			if v := e.Eval(MapLookup(specVars)); !v.IsNull() {
				t.Errorf("Eval = %s, want null", show(v))
			}
			if e.Truthy(MapLookup(specVars)) {
				t.Error("Truthy = true")
			}
		})
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		v       Value
		present bool
		truthy  bool
		str     string
	}{
		{"null", Null(), false, false, ""},
		{"false", Boolean(false), false, false, "false"},
		{"true", Boolean(true), true, true, "true"},
		{"empty", Str(""), false, true, ""},
		{"spaces", Str(" \t\r\n\v\f"), false, true, " \t\r\n\v\f"},
		{"unicode space", Str("\u3000\u2028"), false, true, "\u3000\u2028"},
		{"text", Str(" x "), true, true, " x "},
		{"zero", Str("0"), true, true, "0"},
		{"false string", Str("false"), true, true, "false"},
		{"invalid utf8", Str("\xff"), true, true, "\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.v.Present(); got != tt.present {
				t.Errorf("Present = %v", got)
			}
			if got := tt.v.truthy(); got != tt.truthy {
				t.Errorf("truthy = %v", got)
			}
			if got := tt.v.String(); got != tt.str {
				t.Errorf("String = %q", got)
			}
		})
	}
}

package expr

import "testing"

// FuzzEvaluate checks that arbitrary expressions and variable values never
// panic, and that parsing and evaluation are deterministic and agree with
// Valid, Truthy and Evaluate.
func FuzzEvaluate(f *testing.F) {
	seeds := []string{
		`$CI_COMMIT_BRANCH == "main"`,
		`$A =~ /^release\/.*$/i && $B != null || !($C)`,
		`$A =~ $B`,
		`$A !~ "x" || ($B && $C) == "y"`,
		`(($A == "a" || $B == "b") && $C == "c" || $D == "d") && $E == "e"`,
		`/ab/ == /ab/i`,
		`/ab//`,
		`/a\//`,
		`$[[ inputs.x ]] == true`,
		`$A !`,
		`!!$A`,
		`${A}`,
		`nullx`,
		`$X =~ /(a/`,
		`())`,
		`"unterminated`,
		`'a' == "a"`,
	}
	values := []string{"", " ", "main", "/ma/i", "/(/", `\/a\/`, "x\n/y/", "$A", "true"}
	for i, s := range seeds {
		f.Add(s, values[i%len(values)])
	}
	f.Fuzz(func(t *testing.T, src, val string) {
		vars := map[string]string{"A": val, "B": val + "x", "CI_COMMIT_BRANCH": val, "E": ""}
		lookup := MapLookup(vars)

		e1, err1 := Parse(src)
		e2, err2 := Parse(src)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Parse not stable: %v vs %v", err1, err2)
		}
		if err1 != nil {
			if err1.Error() != err2.Error() {
				t.Fatalf("Parse error not stable: %q vs %q", err1, err2)
			}
			if _, ok := err1.(*SyntaxError); !ok {
				t.Fatalf("Parse error %T is not *SyntaxError", err1)
			}
			if Valid(src) {
				t.Fatal("Valid = true for an unparsable expression")
			}
			if _, err := Evaluate(src, vars); err == nil {
				t.Fatal("Evaluate returned no error for an unparsable expression")
			}
			return
		}
		if e1.String() != e2.String() {
			t.Fatalf("tree not stable: %s vs %s", e1, e2)
		}

		v1, eerr1 := e1.EvalEnv(Env{Vars: lookup})
		v2, eerr2 := e2.EvalEnv(Env{Vars: lookup})
		if (eerr1 == nil) != (eerr2 == nil) || !sameValue(v1, v2) {
			t.Fatalf("Eval not stable: %s/%v vs %s/%v", show(v1), eerr1, show(v2), eerr2)
		}
		if eerr1 != nil && !IsEvalError(eerr1) {
			t.Fatalf("evaluation error %T is not *EvalError", eerr1)
		}
		truthy := e1.Truthy(lookup)
		if truthy != (eerr1 == nil && v1.Present()) {
			t.Fatalf("Truthy = %v, value %s, err %v", truthy, show(v1), eerr1)
		}
		if got, err := Evaluate(src, vars); err != nil || got != truthy {
			t.Fatalf("Evaluate = %v, %v; Truthy = %v", got, err, truthy)
		}
		if eerr1 == nil && !sameValue(e1.Eval(lookup), v1) {
			t.Fatal("Eval differs from EvalEnv")
		}
		_, emptyErr := e1.EvalEnv(Env{})
		if Valid(src) != (emptyErr == nil) {
			t.Fatalf("Valid = %v, evaluation with no variables: %v", Valid(src), emptyErr)
		}
	})
}

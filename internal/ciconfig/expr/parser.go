package expr

type tokClass uint8

const (
	classValue tokClass = iota
	classBinary
	classUnary
	classOpen
	classClose
)

func (t token) class() tokClass {
	switch t.kind {
	case tParenOpen:
		return classOpen
	case tParenClose:
		return classClose
	case tNot:
		return classUnary
	case tEq, tMatch, tNe, tNotMatch, tAnd, tOr:
		return classBinary
	default:
		return classValue
	}
}

// precedence is GitLab's: a smaller number binds tighter.
func (t token) precedence() int {
	switch t.kind {
	case tNot:
		return 1
	case tEq, tNe, tMatch, tNotMatch:
		return 10
	case tAnd:
		return 11
	case tOr:
		return 12
	case tParenClose:
		return closeParenPriority
	case tParenOpen:
		return openParenPriority
	}
	return 0
}

// toRPN is Parser#tokens_rpn, shunting-yard as GitLab wrote it. A binary
// operator pops every stacked operator whose number is <= its own (so equal
// precedence is left-associative), "(" and "!" are pushed without popping,
// and leftover operators, "(" included, are appended in stack order.
func toRPN(toks []token) ([]token, error) {
	out := make([]token, 0, len(toks))
	var ops []token
	popWhile := func(prec int) {
		for len(ops) > 0 && prec >= ops[len(ops)-1].precedence() {
			out = append(out, ops[len(ops)-1])
			ops = ops[:len(ops)-1]
		}
	}
	for _, t := range toks {
		switch t.class() {
		case classValue:
			out = append(out, t)
		case classBinary:
			popWhile(t.precedence())
			ops = append(ops, t)
		case classOpen, classUnary:
			ops = append(ops, t)
		case classClose:
			popWhile(t.precedence())
			if len(ops) == 0 {
				return nil, syntaxErr(msgUnmatchedParen)
			}
			ops = ops[:len(ops)-1] // the "(" (the only thing above 900)
		}
	}
	for i := len(ops) - 1; i >= 0; i-- {
		out = append(out, ops[i])
	}
	return out, nil
}

// parse is Parser#tree: it builds nodes from the RPN, raising GitLab's errors
// in GitLab's order (an invalid regex literal is only noticed here, when its
// token is built).
func parse(toks []token) (*node, error) {
	rpn, err := toRPN(toks)
	if err != nil {
		return nil, err
	}
	var stack []*node
	pop := func() *node {
		if len(stack) == 0 {
			return nil // Ruby's [].pop
		}
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return n
	}
	for _, t := range rpn {
		switch t.class() {
		case classValue:
			n, err := buildValue(t)
			if err != nil {
				return nil, err
			}
			stack = append(stack, n)
		case classUnary:
			operand := pop()
			if operand == nil {
				return nil, syntaxErr(msgInvalidOperand)
			}
			stack = append(stack, &node{kind: nNot, left: operand})
		case classBinary:
			right, left := pop(), pop()
			// GitLab checks the left operand first, and a missing right
			// operand implies a missing left one, so "Invalid right
			// operand" can never be its answer.
			if left == nil {
				return nil, syntaxErr(msgInvalidLeft)
			}
			stack = append(stack, &node{kind: binaryKind[t.kind], left: left, right: right})
		default:
			return nil, syntaxErr(msgUnprocessable)
		}
	}
	switch {
	case len(stack) > 1:
		return nil, syntaxErr(msgUnreachable)
	case len(stack) < 1:
		return nil, syntaxErr(msgEmptyParseTree)
	}
	return stack[0], nil
}

var binaryKind = map[tokKind]nodeKind{
	tEq:       nEq,
	tNe:       nNe,
	tMatch:    nMatch,
	tNotMatch: nNotMatch,
	tAnd:      nAnd,
	tOr:       nOr,
}

func buildValue(t token) (*node, error) {
	switch t.kind {
	case tVar:
		return &node{kind: nVar, text: t.val}, nil
	case tInput:
		return &node{kind: nInput, text: t.val}, nil
	case tString:
		return &node{kind: nString, text: t.val}, nil
	case tNull:
		return &node{kind: nNull}, nil
	case tBool:
		return &node{kind: nBool, b: t.val == "true"}, nil
	case tPattern:
		text := unescapeSlashes(t.val)
		v, ok := compileRubySyntax(text)
		if !ok {
			return nil, syntaxErr(msgInvalidRegexp)
		}
		return &node{kind: nPattern, text: text, val: v}, nil
	}
	return nil, syntaxErr(msgUnknownLexeme) // unreachable: every value kind is handled
}

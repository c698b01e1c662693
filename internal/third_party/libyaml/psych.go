// Package libyaml is the libyaml port taken from gopkg.in/yaml.v3 (the MIT
// licensed files, see LICENSE), kept only to report YAML syntax errors the way
// Ruby's Psych does: yaml.v3 drops the error context and column that GitLab's
// messages contain.
package libyaml

import "fmt"

// SyntaxError parses src with libyaml and returns the Psych message of the
// first syntax error, e.g. "(<unknown>): did not find expected key while
// parsing a block mapping at line 1 column 1". ok is false when src parses.
func SyntaxError(src []byte) (msg string, ok bool) {
	var p yaml_parser_t
	if !yaml_parser_initialize(&p) {
		return "", false
	}
	defer yaml_parser_delete(&p)
	yaml_parser_set_input_string(&p, src)
	for {
		var ev yaml_event_t
		if !yaml_parser_parse(&p, &ev) {
			return psychMessage(&p), true
		}
		done := ev.typ == yaml_STREAM_END_EVENT
		yaml_event_delete(&ev)
		if done {
			return "", false
		}
	}
}

// psychMessage mirrors Psych::SyntaxError: problem and context joined by a
// space, positioned at the context mark (1-based), as psych_parser.c does.
func psychMessage(p *yaml_parser_t) string {
	err := p.problem
	if p.context != "" {
		if err != "" {
			err += " "
		}
		err += p.context
	}
	return fmt.Sprintf("(<unknown>): %s at line %d column %d", err, p.context_mark.line+1, p.context_mark.column+1)
}

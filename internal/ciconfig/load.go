package ciconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gantryci/gantry/internal/third_party/libyaml"
	"gopkg.in/yaml.v3"
)

// Limits of GitLab's YAML loader (config/yaml/loader.rb).
const (
	maxYAMLSize  = 1 << 20
	maxYAMLDepth = 100
	// maxDocuments is the optional spec: header plus the body.
	maxDocuments = 2
)

// Messages of the loader.
const (
	msgEmptyConfig   = "Please provide content of .gitlab-ci.yml"
	msgInvalidFormat = "Invalid configuration format"
	msgTooBig        = "The parsed YAML is too big"
)

// omap is a YAML mapping that keeps key order, like a Ruby Hash: merged
// configs, job order and merged_yaml all depend on insertion order.
type omap struct {
	keys []string
	m    map[string]any
	// nonString marks keys that were not strings in the YAML (10:, true:),
	// which GitLab rejects as job names.
	nonString map[string]bool
}

func newOmap() *omap { return &omap{m: map[string]any{}} }

func (o *omap) get(k string) (any, bool) {
	if o == nil {
		return nil, false
	}
	v, ok := o.m[k]
	return v, ok
}

func (o *omap) has(k string) bool { _, ok := o.get(k); return ok }

// set keeps the position of an existing key, as Ruby's Hash#[]= does.
func (o *omap) set(k string, v any) {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

func (o *omap) del(k string) {
	if _, ok := o.m[k]; !ok {
		return
	}
	delete(o.m, k)
	for i, kk := range o.keys {
		if kk == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *omap) len() int {
	if o == nil {
		return 0
	}
	return len(o.keys)
}

// refTag is an unresolved `!reference [a, b]`.
type refTag struct {
	path []string
}

func (r *refTag) String() string {
	q := make([]string, len(r.path))
	for i, p := range r.path {
		q[i] = strconv.Quote(p)
	}
	return "!reference [" + strings.Join(q, ", ") + "]"
}

// loadError is a configuration error with GitLab's text.
type loadError struct{ msg string }

func (e *loadError) Error() string { return e.msg }

func newLoadError(format string, a ...any) error {
	return &loadError{msg: fmt.Sprintf(format, a...)}
}

// loadYAML parses one configuration file into a *omap (the body document),
// applying GitLab's loader rules. header is the spec: document when present.
func loadYAML(content []byte) (body *omap, header *omap, err error) {
	if len(bytes.TrimSpace(content)) == 0 {
		return nil, nil, &loadError{msgEmptyConfig}
	}
	if len(content) > maxYAMLSize {
		return nil, nil, &loadError{msgTooBig}
	}
	docs, err := parseDocuments(content)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case len(docs) == 0:
		return nil, nil, &loadError{msgEmptyConfig}
	case len(docs) > maxDocuments:
		return nil, nil, &loadError{msgInvalidFormat}
	}
	var vals []any
	for _, d := range docs {
		c := newConverter()
		v, err := c.convert(d, 0)
		if err != nil {
			return nil, nil, err
		}
		vals = append(vals, v)
	}
	if len(vals) == 2 {
		h, ok := vals[0].(*omap)
		if !ok || !h.has("spec") {
			return nil, nil, &loadError{msgInvalidFormat}
		}
		header = h
		vals = vals[1:]
	}
	root, ok := vals[0].(*omap)
	if !ok {
		if vals[0] == nil {
			return nil, nil, &loadError{msgEmptyConfig}
		}
		return nil, nil, &loadError{msgInvalidFormat}
	}
	return root, header, nil
}

// parseDocuments splits the stream. Syntax errors are reported with Psych's
// text, which libyaml (the same parser Psych wraps) reproduces exactly.
func parseDocuments(content []byte) ([]*yaml.Node, error) {
	if msg, bad := libyaml.SyntaxError(content); bad {
		return nil, &loadError{msg}
	}
	dec := yaml.NewDecoder(bytes.NewReader(content))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &loadError{psychFromYAMLv3(err)}
		}
		docs = append(docs, &n)
		if len(docs) > maxDocuments {
			break
		}
	}
	return docs, nil
}

// psychFromYAMLv3 maps composer errors that libyaml's event parser does not
// see (they come from yaml.v3's node building) to Psych's messages.
func psychFromYAMLv3(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(s, "unknown anchor '"); i >= 0 {
		name := strings.TrimSuffix(s[i+len("unknown anchor '"):], "' referenced")
		return "An alias referenced an unknown anchor: " + name
	}
	return "(<unknown>): " + s
}

// converter turns yaml.Node trees into plain values with Psych's scalar
// resolution (YAML 1.1: yes/no/on/off are booleans), merge keys and aliases.
type converter struct {
	anchors map[*yaml.Node]any
	size    int
}

// nodeCost approximates Ruby object sizes so that alias bombs and huge
// documents hit "The parsed YAML is too big" like GitLab's DeepSize check.
const nodeCost = 40

func newConverter() *converter { return &converter{anchors: map[*yaml.Node]any{}} }

func (c *converter) grow(n int) error {
	c.size += n
	if c.size > maxYAMLSize {
		return &loadError{msgTooBig}
	}
	return nil
}

func (c *converter) convert(n *yaml.Node, depth int) (any, error) {
	if depth > maxYAMLDepth {
		return nil, &loadError{msgTooBig}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], depth)
	case yaml.AliasNode:
		if v, ok := c.anchors[n.Alias]; ok {
			// Shared values are never mutated in place, so reuse is safe;
			// the size is still charged so that bombs are caught.
			if err := c.grow(approxSize(v, 0)); err != nil {
				return nil, err
			}
			return v, nil
		}
		v, err := c.convert(n.Alias, depth)
		if err != nil {
			return nil, err
		}
		c.anchors[n.Alias] = v
		return v, nil
	case yaml.ScalarNode:
		if err := c.grow(nodeCost + len(n.Value)); err != nil {
			return nil, err
		}
		return resolveScalar(n), nil
	case yaml.SequenceNode:
		if err := c.grow(nodeCost + 8*len(n.Content)); err != nil {
			return nil, err
		}
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if n.Tag == "!reference" {
			return toRefTag(out)
		}
		if n.Anchor != "" {
			c.anchors[n] = out
		}
		return out, nil
	case yaml.MappingNode:
		if err := c.grow(nodeCost + 16*len(n.Content)); err != nil {
			return nil, err
		}
		m := newOmap()
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag != "!!str" && k.Style == 0 {
				if err := c.mergeInto(m, vn, depth); err != nil {
					return nil, err
				}
				continue
			}
			kv, err := c.convert(k, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := c.convert(vn, depth+1)
			if err != nil {
				return nil, err
			}
			ks, isStr := kv.(string)
			if !isStr {
				ks = rubyToS(kv)
				if m.nonString == nil {
					m.nonString = map[string]bool{}
				}
				m.nonString[ks] = true
			}
			m.set(ks, v)
		}
		if n.Anchor != "" {
			c.anchors[n] = m
		}
		return m, nil
	}
	return nil, nil
}

// mergeInto applies a `<<` merge key the way Psych does: the merged hash is
// written over what is already there (Psych is order dependent), and in a
// list of sources the first one wins.
func (c *converter) mergeInto(m *omap, vn *yaml.Node, depth int) error {
	v, err := c.convert(vn, depth+1)
	if err != nil {
		return err
	}
	var srcs []*omap
	switch t := v.(type) {
	case *omap:
		srcs = []*omap{t}
	case []any:
		for _, e := range t {
			if h, ok := e.(*omap); ok {
				srcs = append(srcs, h)
			}
		}
	default:
		// Psych keeps a non-hash merge value as a literal "<<" key.
		m.set("<<", v)
		return nil
	}
	merged := newOmap()
	for i := len(srcs) - 1; i >= 0; i-- {
		for _, k := range srcs[i].keys {
			merged.set(k, srcs[i].m[k])
		}
	}
	for _, k := range merged.keys {
		m.set(k, merged.m[k])
	}
	return nil
}

func toRefTag(items []any) (any, error) {
	r := &refTag{}
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, newLoadError("%s is not valid", rubyInspect(items))
		}
		r.path = append(r.path, s)
	}
	return r, nil
}

// resolveScalar implements Psych's ScalarScanner: quoted scalars are
// strings, plain ones are resolved with YAML 1.1 rules.
func resolveScalar(n *yaml.Node) any {
	const quoted = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	if n.Style&quoted != 0 {
		return n.Value
	}
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!int", "!!float", "!!bool", "!!null":
			return scanPlain(n.Value)
		}
		return n.Value
	}
	return scanPlain(n.Value)
}

func scanPlain(s string) any {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil
	}
	switch strings.ToLower(s) {
	case "yes", "true", "on":
		return true
	case "no", "false", "off":
		return false
	}
	if isRubyInt(s) {
		clean := strings.ReplaceAll(s, "_", "")
		if i, err := strconv.ParseInt(clean, 0, 64); err == nil {
			return i
		}
		if len(clean) > 1 && clean[0] == '0' && !strings.ContainsAny(clean, "xXbBoO") {
			if i, err := strconv.ParseInt(clean, 8, 64); err == nil {
				return i
			}
		}
		return s
	}
	if isRubyFloat(s) {
		if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
			return f
		}
	}
	switch strings.ToLower(s) {
	case ".inf", "+.inf":
		return math.Inf(1)
	case "-.inf":
		return math.Inf(-1)
	case ".nan":
		return math.NaN()
	}
	return s
}

func isRubyInt(s string) bool {
	t := strings.TrimLeft(s, "+-")
	if t == "" {
		return false
	}
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0b") || strings.HasPrefix(t, "0o") {
		return len(t) > 2
	}
	for i, r := range t {
		if r == '_' && i > 0 {
			continue
		}
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isRubyFloat(s string) bool {
	t := strings.TrimLeft(s, "+-")
	if t == "" || t[0] == '.' && len(t) == 1 {
		return false
	}
	digits, dot := 0, false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '_' && digits > 0:
		case c == '.' && !dot:
			dot = true
		case (c == 'e' || c == 'E') && digits > 0:
			rest := strings.TrimLeft(t[i+1:], "+-")
			if rest == "" {
				return false
			}
			for _, r := range rest {
				if r < '0' || r > '9' {
					return false
				}
			}
			return true
		default:
			return false
		}
	}
	return digits > 0 && dot
}

// approxSize is the charge for reusing an aliased value.
func approxSize(v any, depth int) int {
	if depth > maxYAMLDepth {
		return maxYAMLSize + 1
	}
	switch t := v.(type) {
	case *omap:
		n := nodeCost + 16*t.len()
		for _, k := range t.keys {
			n += approxSize(t.m[k], depth+1)
			if n > maxYAMLSize {
				return n
			}
		}
		return n
	case []any:
		n := nodeCost + 8*len(t)
		for _, e := range t {
			n += approxSize(e, depth+1)
			if n > maxYAMLSize {
				return n
			}
		}
		return n
	case string:
		return nodeCost + len(t)
	default:
		return nodeCost
	}
}

// rubyToS is Ruby's #to_s for scalars, used for variable values and keys.
func rubyToS(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		switch {
		case math.IsInf(t, 1):
			return "Infinity"
		case math.IsInf(t, -1):
			return "-Infinity"
		case math.IsNaN(t):
			return "NaN"
		}
		s := strconv.FormatFloat(t, 'f', -1, 64)
		if math.Abs(t) >= 1e16 || (t != 0 && math.Abs(t) < 1e-4) {
			s = strconv.FormatFloat(t, 'e', -1, 64)
			if !strings.Contains(s, ".") {
				s = strings.Replace(s, "e", ".0e", 1)
			}
			return s
		}
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	return fmt.Sprint(v)
}

// rubyInspect renders values like Ruby's #inspect for error messages.
func rubyInspect(v any) string {
	switch t := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = rubyInspect(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *omap:
		parts := make([]string, 0, t.len())
		for _, k := range t.keys {
			parts = append(parts, k+": "+rubyInspect(t.m[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case *refTag:
		return t.String()
	}
	return rubyToS(v)
}

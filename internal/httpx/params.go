package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
)

// MaxParamBody bounds request bodies parsed for parameters.
const MaxParamBody = 8 << 20

// MaxMultipartParts bounds the parts of a multipart body, as Rack's
// multipart_part_limit (128) bounds them for GitLab.
const MaxMultipartParts = 128

// errTooManyParts is Rack's answer to a body over MaxMultipartParts.
var errTooManyParts = ci.BadRequest("too many multipart parts")

// ErrBodyTooLarge is the answer to a body over its route's limit, GitLab's
// 413 (Workhorse and Rack refuse such bodies before Rails sees them).
var ErrBodyTooLarge = &ci.Error{Code: ci.ETooLarge, Message: "413 Request Entity Too Large"}

// LimitBody caps the request body at n bytes, chunked or not: reading past
// n fails (tooLarge tells that error apart) and the server closes the
// connection instead of draining the rest.
func LimitBody(w http.ResponseWriter, r *http.Request, n int64) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, n)
	}
}

// TooLarge reports whether err comes from a body over LimitBody's cap.
func TooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// readBody reads a whole parameter body of at most MaxParamBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxParamBody+1))
	switch {
	case TooLarge(err) || len(body) > MaxParamBody:
		return nil, ErrBodyTooLarge
	case err != nil:
		return nil, ci.BadRequest("could not read body")
	}
	return body, nil
}

// Params merges query, form and JSON body parameters as Grape does. Array
// forms (scope[]=a, scope[0]=a) are folded onto the bare name.
type Params struct {
	vals map[string][]string
	raw  map[string]json.RawMessage
	// Form is the raw url-encoded form, for nested forms like a[][key].
	form url.Values
}

// ParseParams reads the request's parameters. A malformed body is a 400.
func ParseParams(r *http.Request) (*Params, error) {
	p := &Params{vals: map[string][]string{}, raw: map[string]json.RawMessage{}, form: url.Values{}}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, ci.Invalid("query is invalid")
	}
	p.addValues(q)
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return p, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, &ci.Error{Code: ci.EBadRequest, Message: "400 Bad request - body is not valid JSON"}
		}
		for k, v := range m {
			p.addJSON(k, v)
		}
	case "application/x-www-form-urlencoded":
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, ci.BadRequest("body is not a valid form")
		}
		p.addValues(f)
	case "multipart/form-data":
		vals, err := readMultipart(r)
		if err != nil {
			return nil, err
		}
		p.addValues(vals)
	}
	return p, nil
}

// readMultipart reads a multipart body's fields in memory: at most
// MaxMultipartParts parts and MaxParamBody bytes in all, files included
// (no API route takes an upload; the runner protocol streams its own), so
// a body costs bounded memory and no temporary files.
func readMultipart(r *http.Request) (url.Values, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, ci.BadRequest("body is not a valid multipart form")
	}
	vals := url.Values{}
	left := int64(MaxParamBody)
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return vals, nil
		}
		if TooLarge(err) {
			return nil, ErrBodyTooLarge
		}
		if err != nil {
			return nil, ci.BadRequest("body is not a valid multipart form")
		}
		if n >= MaxMultipartParts {
			part.Close()
			return nil, errTooManyParts
		}
		b, err := io.ReadAll(io.LimitReader(part, left+1))
		part.Close()
		if TooLarge(err) {
			return nil, ErrBodyTooLarge
		}
		if err != nil {
			return nil, ci.BadRequest("body is not a valid multipart form")
		}
		if left -= int64(len(b)); left < 0 {
			return nil, ErrBodyTooLarge
		}
		if name := part.FormName(); name != "" {
			vals.Add(name, string(b))
		}
	}
}

func baseName(k string) string {
	if i := strings.IndexByte(k, '['); i > 0 {
		return k[:i]
	}
	return k
}

func (p *Params) addValues(v url.Values) {
	for k, vs := range v {
		p.form[k] = append(p.form[k], vs...)
		b := baseName(k)
		p.vals[b] = append(p.vals[b], vs...)
	}
}

func (p *Params) addJSON(k string, v json.RawMessage) {
	p.raw[k] = v
	var s any
	if err := json.Unmarshal(v, &s); err != nil {
		return
	}
	switch x := s.(type) {
	case []any:
		for _, e := range x {
			if sv, ok := scalar(e); ok {
				p.vals[k] = append(p.vals[k], sv)
			}
		}
		if len(x) == 0 {
			p.vals[k] = []string{}
		}
	default:
		if sv, ok := scalar(x); ok {
			p.vals[k] = append(p.vals[k], sv)
		}
	}
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// Has reports whether the parameter was sent.
func (p *Params) Has(k string) bool {
	_, ok := p.vals[k]
	if !ok {
		_, ok = p.raw[k]
	}
	return ok
}

// Str returns the first value of k.
func (p *Params) Str(k string) string {
	if vs := p.vals[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// List returns every value of k (k, k[], k[0] …).
func (p *Params) List(k string) []string { return p.vals[k] }

// Raw returns the JSON value of k when the body was JSON.
func (p *Params) Raw(k string) (json.RawMessage, bool) {
	v, ok := p.raw[k]
	return v, ok
}

// Form returns the raw form values.
func (p *Params) Form() url.Values { return p.form }

// Int parses an Integer parameter: absent gives def; a non-integer is a
// Grape "k is invalid" error.
func (p *Params) Int(k string, def int64) (int64, error) {
	s := p.Str(k)
	if !p.Has(k) {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, ci.Invalid("%s is invalid", k)
	}
	return n, nil
}

// Bool parses a Boolean parameter as Grape coerces it.
func (p *Params) Bool(k string, def bool) (bool, error) {
	if !p.Has(k) {
		return def, nil
	}
	switch strings.ToLower(p.Str(k)) {
	case "true", "t", "1", "yes", "y", "on":
		return true, nil
	case "false", "f", "0", "no", "n", "off", "":
		return false, nil
	}
	return false, ci.Invalid("%s is invalid", k)
}

// KeyValues reads an array of {key, value} hashes (job_variables_attributes,
// variables) sent as JSON or as a nested form (a[][key]=…&a[][value]=…).
// Missing keys are Grape errors "a[N][key] is missing".
func (p *Params) KeyValues(k string) ([]ci.Variable, error) {
	if raw, ok := p.raw[k]; ok {
		var items []map[string]any
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, ci.Invalid("%s is invalid", k)
		}
		out := make([]ci.Variable, 0, len(items))
		for i, it := range items {
			key, okk := it["key"].(string)
			if !okk {
				return nil, ci.Invalid("%s[%d][key] is missing", k, i)
			}
			val, okv := scalarAny(it["value"])
			if !okv {
				return nil, ci.Invalid("%s[%d][value] is missing", k, i)
			}
			v := ci.Variable{Key: key, Value: val}
			if t, ok := it["variable_type"].(string); ok {
				v.VariableType = t
			}
			out = append(out, v)
		}
		return out, nil
	}
	keys, vals := p.form[k+"[][key]"], p.form[k+"[][value]"]
	types := p.form[k+"[][variable_type]"]
	if len(keys) == 0 && len(vals) == 0 {
		// Indexed form: a[0][key]=…
		for i := 0; ; i++ {
			kk, okk := p.form[fmt.Sprintf("%s[%d][key]", k, i)]
			vv, okv := p.form[fmt.Sprintf("%s[%d][value]", k, i)]
			if !okk && !okv {
				break
			}
			if !okk {
				return nil, ci.Invalid("%s[%d][key] is missing", k, i)
			}
			if !okv {
				return nil, ci.Invalid("%s[%d][value] is missing", k, i)
			}
			keys, vals = append(keys, kk[0]), append(vals, vv[0])
		}
	}
	out := make([]ci.Variable, 0, len(keys))
	for i := range max(len(keys), len(vals)) {
		if i >= len(keys) {
			return nil, ci.Invalid("%s[%d][key] is missing", k, i)
		}
		if i >= len(vals) {
			return nil, ci.Invalid("%s[%d][value] is missing", k, i)
		}
		v := ci.Variable{Key: keys[i], Value: vals[i]}
		if i < len(types) {
			v.VariableType = types[i]
		}
		out = append(out, v)
	}
	return out, nil
}

func scalarAny(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	return scalar(v)
}

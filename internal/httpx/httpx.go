// Package httpx holds what every Gantry HTTP surface shares: the route type,
// JSON responses, the one table mapping ci.ErrorCode to HTTP statuses and
// body shapes, and GitLab-style (Grape) parameter parsing.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gantryci/gantry/internal/ci"
)

// Route is one entry of a route table.
type Route struct {
	Method  string
	Pattern string // net/http ServeMux pattern path, e.g. /api/v4/projects/{id}/jobs
	Handler http.HandlerFunc
}

// errorShape says how each code is answered: the HTTP status and whether the
// body key is "error" (Grape validation, routing) or "message" (GitLab's
// helpers).
var errorShape = map[ci.ErrorCode]struct {
	status int
	key    string
}{
	ci.EInvalid:        {http.StatusBadRequest, "error"},
	ci.EBadRequest:     {http.StatusBadRequest, "message"},
	ci.EUnauthorized:   {http.StatusUnauthorized, "message"},
	ci.EForbidden:      {http.StatusForbidden, "message"},
	ci.ENotFound:       {http.StatusNotFound, "message"},
	ci.ERouteNotFound:  {http.StatusNotFound, "error"},
	ci.ENotAllowed:     {http.StatusMethodNotAllowed, "error"},
	ci.EConflict:       {http.StatusConflict, "message"},
	ci.ETooLarge:       {http.StatusRequestEntityTooLarge, "message"},
	ci.ERange:          {http.StatusRequestedRangeNotSatisfiable, "message"},
	ci.ETooManyRequest: {http.StatusTooManyRequests, "message"},
	ci.EGone:           {http.StatusGone, "error"},
	ci.EUnprocessable:  {http.StatusUnprocessableEntity, "message"},
	ci.EInternal:       {http.StatusInternalServerError, "message"},
}

// StatusOf is the HTTP status for an error.
func StatusOf(err error) int {
	return errorShape[ci.CodeOf(err)].status
}

// WriteError answers with err in GitLab's shape. Unclassified errors are
// logged and become a 500 without leaking their text.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *ci.Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away and the work stopped with it: nobody
			// reads the answer and nothing went wrong here.
			if log != nil {
				log.Debug("request canceled", "method", r.Method, "path", r.URL.Path)
			}
			return
		}
		if log != nil {
			var id string
			if i := Info(r.Context()); i != nil {
				id = i.ID
			}
			log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		}
		e = ci.ErrInternal
	}
	shape := errorShape[e.Code]
	var body any = e.Message
	if e.Body != nil {
		body = e.Body
	}
	WriteJSON(w, shape.status, map[string]any{shape.key: body})
}

// WriteJSON writes v as JSON with GitLab's content type. HTML characters
// are not escaped (Rails writes "&", not "\u0026").
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"message":"500 Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

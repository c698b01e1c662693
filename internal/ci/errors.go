package ci

import (
	"errors"
	"fmt"
)

// ErrorCode classifies a failure; the HTTP layer maps each code to a status
// and body shape in one table.
type ErrorCode string

// Error codes.
const (
	// EInvalid is a parameter validation error (Grape's {"error": …}, 400).
	EInvalid ErrorCode = "invalid"
	// EBadRequest is GitLab's bad_request! ({"message": "400 Bad request - …"}).
	EBadRequest     ErrorCode = "bad_request"
	EUnauthorized   ErrorCode = "unauthorized"
	EForbidden      ErrorCode = "forbidden"
	ENotFound       ErrorCode = "not_found"
	ERouteNotFound  ErrorCode = "route_not_found"
	ENotAllowed     ErrorCode = "method_not_allowed"
	EConflict       ErrorCode = "conflict"
	ETooLarge       ErrorCode = "too_large"
	ERange          ErrorCode = "range_not_satisfiable"
	ETooManyRequest ErrorCode = "too_many_requests"
	EGone           ErrorCode = "gone"
	EUnprocessable  ErrorCode = "unprocessable"
	EInternal       ErrorCode = "internal"
)

// Error is a failure with a code and the exact message a client sees.
// Body, when set, replaces the message as the JSON value (GitLab sometimes
// answers {"message": {"base": […]}}).
type Error struct {
	Code    ErrorCode
	Message string
	Body    any
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// GitLab's stock messages.
var (
	ErrUnauthorized     = &Error{Code: EUnauthorized, Message: "401 Unauthorized"}
	ErrForbidden        = &Error{Code: EForbidden, Message: "403 Forbidden"}
	ErrNotFoundRecord   = &Error{Code: ENotFound, Message: "404 Not found"}
	ErrProjectNotFound  = &Error{Code: ENotFound, Message: "404 Project Not Found"}
	ErrJobNotFound      = &Error{Code: ENotFound, Message: "404 Job Not Found"}
	ErrNotRetryable     = &Error{Code: EForbidden, Message: "403 Forbidden - Job is not retryable"}
	ErrNotErasable      = &Error{Code: EForbidden, Message: "403 Forbidden - Job is not erasable!"}
	ErrUnplayable       = &Error{Code: EBadRequest, Message: "400 Bad request - Unplayable Job"}
	ErrRouteNotFound    = &Error{Code: ERouteNotFound, Message: "404 Not Found"}
	ErrInternal         = &Error{Code: EInternal, Message: "500 Internal Server Error"}
	ErrNotFoundGeneric  = &Error{Code: ENotFound, Message: "404 Not Found"}
	ErrPipelineNotFound = &Error{Code: ENotFound, Message: "404 Not found"}
)

// NotFound is GitLab's not_found!(resource): "404 <Resource> Not Found".
func NotFound(resource string) *Error {
	return &Error{Code: ENotFound, Message: "404 " + resource + " Not Found"}
}

// Forbidden is forbidden!(reason).
func Forbidden(reason string) *Error {
	if reason == "" {
		return ErrForbidden
	}
	return &Error{Code: EForbidden, Message: "403 Forbidden - " + reason}
}

// BadRequest is bad_request!(reason).
func BadRequest(reason string) *Error {
	return &Error{Code: EBadRequest, Message: "400 Bad request - " + reason}
}

// Invalid is a Grape validation error on a parameter.
func Invalid(format string, args ...any) *Error {
	return &Error{Code: EInvalid, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err, EInternal for anything unclassified.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

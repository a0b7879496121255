package provider

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parry-soc/parry/actions"
)

// Error is a failure a provider understood: the vendor said the host does not exist, refused our
// credentials, or asked us to come back later. Providers return it (wrapped or not) and the activities turn it
// into a Temporal application error of the same Type, non-retryable when Type is one of
// actions.NonRetryable. Any other error a provider returns is retried.
type Error struct {
	// Type is the stable error type: one of the actions.Err* constants, or another name for a retryable
	// failure ("Unavailable", "RateLimited").
	Type string
	// Msg says what failed, in the vendor's words where it gave some.
	Msg string
	// RetryAfter is the delay the vendor asked for (HTTP Retry-After); zero leaves it to the retry policy.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// NonRetryable reports whether no retry can fix the error.
func (e *Error) NonRetryable() bool { return slices.Contains(actions.NonRetryable, e.Type) }

// Retryable failure types that are not in the catalog: they are retried, RetryAfter honoured.
const (
	ErrUnavailable = "Unavailable" // the vendor answered 5xx or did not answer
	ErrRateLimited = "RateLimited" // the vendor answered 429
)

// InvalidInput reports a parameter the provider cannot use.
func InvalidInput(format string, args ...any) *Error {
	return &Error{Type: actions.ErrInvalidInput, Msg: fmt.Sprintf(format, args...)}
}

// HostNotFound reports a host the EDR does not know.
func HostNotFound(host string) *Error {
	return &Error{Type: actions.ErrHostNotFound, Msg: fmt.Sprintf("host %q not found", host)}
}

// UserNotFound reports an account the directory (or a host) does not know.
func UserNotFound(user string) *Error {
	return &Error{Type: actions.ErrUserNotFound, Msg: fmt.Sprintf("user %q not found", user)}
}

// NotFound reports any other unknown object: what is its kind ("message", "group"), id its name.
func NotFound(what, id string) *Error {
	return &Error{Type: actions.ErrNotFound, Msg: fmt.Sprintf("%s %q not found", what, id)}
}

// Unauthorized reports credentials the vendor refused.
func Unauthorized(msg string) *Error {
	return &Error{Type: actions.ErrUnauthorized, Msg: msg}
}

// VendorRejected reports a request the vendor refused for another reason (HTTP 4xx).
func VendorRejected(msg string) *Error {
	return &Error{Type: actions.ErrVendorRejected, Msg: msg}
}

// Unavailable reports a transient failure (HTTP 5xx, 429, a timeout); retryAfter may be zero.
func Unavailable(msg string, retryAfter time.Duration) *Error {
	return &Error{Type: ErrUnavailable, Msg: msg, RetryAfter: retryAfter}
}

// AsError returns the provider Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var pe *Error
	if errors.As(err, &pe) {
		return pe, true
	}
	return nil, false
}

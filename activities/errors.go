package activities

import (
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
)

// Error is the typed failure providers return (see provider.Error and its constructors provider.NotFound,
// provider.HostNotFound, …). It lives in package provider so that adapters, which this package imports,
// can use it too.
type Error = provider.Error

// ErrNotConfigured is the type of the error an activity returns when its provider family has no provider.
const ErrNotConfigured = "NotConfigured"

// temporalError maps what a provider (or the evidence store) returned to what the activity returns, for
// every activity, here and only here:
//
//   - a provider Error of a non-retryable type (actions.NonRetryable) becomes a non-retryable application
//     error of that type, with the provider's message;
//   - a provider Error of another type becomes a retryable application error of that type, carrying the
//     provider's Retry-After as the next retry delay;
//   - anything else is returned wrapped with the action's name, and Temporal retries it.
func temporalError(action string, err error) error {
	if err == nil {
		return nil
	}
	pe, ok := provider.AsError(err)
	if !ok {
		return fmt.Errorf("%s: %w", action, err)
	}
	msg := fmt.Sprintf("%s: %s", action, err.Error())
	if pe.NonRetryable() {
		return temporal.NewNonRetryableApplicationError(msg, pe.Type, nil)
	}
	typ := pe.Type
	if typ == "" {
		typ = provider.ErrUnavailable
	}
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{NextRetryDelay: pe.RetryAfter})
}

// invalid is the error of a request that no retry can fix.
func invalid(action, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(action+": "+fmt.Sprintf(format, args...), actions.ErrInvalidInput, nil)
}

func notConfigured(action, family string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: no %s provider is configured", action, family), ErrNotConfigured, nil)
}

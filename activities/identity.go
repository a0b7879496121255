package activities

import (
	"context"
	"fmt"

	"github.com/parry-soc/parry/actions"
)

// DisableUser implements identity.disable_user.
func (a *Activities) DisableUser(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "identity.disable_user", "identity", a.Identity, req)
	if err != nil {
		return actions.Result{}, err
	}
	us, err := a.Identity.DisableUser(ctx, req.IdempotencyKey, param(req, "user"))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"user": us.User, "state": us.State}, "disabled account "+us.User), nil
}

// EnableUser implements identity.enable_user. Whether another run still contains the account is the
// incident workflow's to decide; when this runs, the account is enabled.
func (a *Activities) EnableUser(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "identity.enable_user", "identity", a.Identity, req)
	if err != nil {
		return actions.Result{}, err
	}
	us, err := a.Identity.EnableUser(ctx, req.IdempotencyKey, param(req, "user"))
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"user": us.User, "state": us.State}, "enabled account "+us.User), nil
}

// RevokeSessions implements identity.revoke_sessions.
func (a *Activities) RevokeSessions(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "identity.revoke_sessions", "identity", a.Identity, req)
	if err != nil {
		return actions.Result{}, err
	}
	user := param(req, "user")
	n, err := a.Identity.RevokeSessions(ctx, req.IdempotencyKey, user)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"revoked": n}, fmt.Sprintf("revoked %d session(s) of %s", n, user)), nil
}

// ResetPassword implements identity.reset_password.
func (a *Activities) ResetPassword(ctx context.Context, req actions.Request) (actions.Result, error) {
	c, err := a.begin(ctx, "identity.reset_password", "identity", a.Identity, req)
	if err != nil {
		return actions.Result{}, err
	}
	user := param(req, "user")
	reset, err := a.Identity.ResetPassword(ctx, req.IdempotencyKey, user)
	if err != nil {
		return actions.Result{}, c.fail(err)
	}
	return c.result(map[string]any{"reset": reset}, "forced a password reset of "+user), nil
}

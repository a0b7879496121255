package lab

import (
	"context"
	"time"

	"github.com/parry-soc/parry/activities/provider"
)

func (l *Lab) findUser(name string) (*User, error) {
	u := l.fx.user(name)
	if u == nil {
		return nil, provider.UserNotFound(name)
	}
	return u, nil
}

// DisableUser disables a directory account (by name, UPN, mailbox or DOMAIN\name). Disabling a disabled
// account succeeds.
func (l *Lab) DisableUser(_ context.Context, key, user string) (provider.UserState, error) {
	return l.setDisabled(key, "identity.disable_user", user, true)
}

// EnableUser re-enables a directory account. Enabling an enabled account succeeds.
func (l *Lab) EnableUser(_ context.Context, key, user string) (provider.UserState, error) {
	return l.setDisabled(key, "identity.enable_user", user, false)
}

func (l *Lab) setDisabled(key, action, user string, disabled bool) (provider.UserState, error) {
	u, err := l.findUser(user)
	if err != nil {
		return provider.UserState{}, err
	}
	state := "enabled"
	if disabled {
		state = "disabled"
	}
	return effect(l, action, key, u.Name, func(st *State, _ time.Time) (provider.UserState, error) {
		st.user(u).Disabled = disabled
		return provider.UserState{User: u.Name, State: state}, nil
	})
}

// RevokeSessions signs an account out everywhere and returns how many sessions it ended.
func (l *Lab) RevokeSessions(_ context.Context, key, user string) (int, error) {
	u, err := l.findUser(user)
	if err != nil {
		return 0, err
	}
	return effect(l, "identity.revoke_sessions", key, u.Name, func(st *State, _ time.Time) (int, error) {
		us := st.user(u)
		n := us.Sessions
		us.Sessions = 0
		return n, nil
	})
}

// ResetPassword forces a password change at next sign-in.
func (l *Lab) ResetPassword(_ context.Context, key, user string) (bool, error) {
	u, err := l.findUser(user)
	if err != nil {
		return false, err
	}
	return effect(l, "identity.reset_password", key, u.Name, func(st *State, _ time.Time) (bool, error) {
		st.user(u).PasswordResetRequired = true
		return true, nil
	})
}

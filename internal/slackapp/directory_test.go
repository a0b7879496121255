package slackapp

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
	"github.com/parry-soc/parry/internal/slacktest"
)

func TestDirectoryListsUserGroupMembers(t *testing.T) {
	f := slacktest.New(t)
	d, err := NewDirectory(Config{BotToken: f.BotToken(), APIURL: f.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.GroupMembers(context.Background(), slacktest.GroupLeads)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{slacktest.UserLead1, slacktest.UserLead2}; !slices.Equal(got, want) {
		t.Errorf("GroupMembers = %v, want %v", got, want)
	}
	calls := f.Calls("")
	if len(calls) != 1 || calls[0].Method != "usergroups.users.list" || calls[0].Args["usergroup"] != slacktest.GroupLeads {
		t.Errorf("calls %+v, want one usergroups.users.list for S0SOCLEADS", calls)
	}
}

func TestDirectoryErrors(t *testing.T) {
	for _, tt := range []struct {
		name           string
		group          string
		fault          func(*slacktest.Fake)
		wantType       string
		wantNonRetry   bool
		wantRetryAfter time.Duration
	}{
		{name: "unknown group", group: "S0NOSUCH", wantType: actions.ErrNotFound, wantNonRetry: true},
		{name: "empty group", group: " ", wantType: actions.ErrInvalidInput, wantNonRetry: true},
		{name: "token without usergroups:read", group: slacktest.GroupLeads, fault: func(f *slacktest.Fake) { f.FailMethod("usergroups.users.list", "missing_scope") },
			wantType: actions.ErrUnauthorized, wantNonRetry: true},
		{name: "rate limited", group: slacktest.GroupLeads, fault: func(f *slacktest.Fake) {
			f.FailNext("usergroups.users.list", 1, http.StatusTooManyRequests, 20*time.Second)
		},
			wantType: provider.ErrRateLimited, wantRetryAfter: 20 * time.Second},
		{name: "server error", group: slacktest.GroupLeads, fault: func(f *slacktest.Fake) { f.FailNext("usergroups.users.list", 1, http.StatusBadGateway, 0) },
			wantType: provider.ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := slacktest.New(t)
			if tt.fault != nil {
				tt.fault(f)
			}
			d, err := NewDirectory(Config{BotToken: f.BotToken(), APIURL: f.APIURL()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.GroupMembers(context.Background(), tt.group)
			pe, ok := provider.AsError(err)
			if !ok {
				t.Fatalf("GroupMembers = %v, want a provider error", err)
			}
			if pe.Type != tt.wantType || pe.NonRetryable() != tt.wantNonRetry || pe.RetryAfter != tt.wantRetryAfter {
				t.Errorf("error type %s non-retryable %t retry after %s, want %s %t %s",
					pe.Type, pe.NonRetryable(), pe.RetryAfter, tt.wantType, tt.wantNonRetry, tt.wantRetryAfter)
			}
		})
	}
}

func TestNewNeedsABotToken(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a bot token succeeded")
	}
	if _, err := NewDirectory(Config{}); err == nil {
		t.Error("NewDirectory without a bot token succeeded")
	}
}

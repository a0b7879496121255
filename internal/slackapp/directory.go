package slackapp

import (
	"context"
	"log/slog"
	"strings"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/activities/provider"
)

// Directory resolves Slack user groups to their members' user ids, for approvals: the approvers.resolve
// activity's directory when a bot token is configured. It has activities.Directory's method set; package
// activities asserts that, since this package cannot import it (activities imports this one).
type Directory struct {
	api *slack.Client
	log *slog.Logger
}

// NewDirectory returns a Directory for cfg (BotToken, APIURL, Logger, HTTPClient).
func NewDirectory(cfg Config) (*Directory, error) {
	api, log, err := cfg.client()
	if err != nil {
		return nil, err
	}
	return &Directory{api: api, log: log}, nil
}

// GroupMembers returns the user ids of a user group's members (usergroups.users.list, scope
// usergroups:read). An unknown group is a non-retryable NotFound: the playbook names a group that does
// not exist.
func (d *Directory) GroupMembers(ctx context.Context, group string) ([]string, error) {
	group = strings.TrimSpace(group)
	if group == "" {
		return nil, provider.InvalidInput("empty user group id")
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	users, err := d.api.GetUserGroupMembersContext(cctx, group)
	if err != nil {
		return nil, fail(ctx, d.log, "usergroups.users.list", group, err)
	}
	return users, nil
}

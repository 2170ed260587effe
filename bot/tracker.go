package bot

import (
	"context"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
)

var _ commands.Emails = (*slackAPI)(nil)

// EmailOf returns the email of Slack user id with users.info (scope
// users:read.email); "" when Slack shows none. It fails with ENotFound for
// an unknown user and with the Slack API's classified errors otherwise.
func (s *slackAPI) EmailOf(ctx context.Context, id string) (string, error) {
	u, err := s.client(ctx).GetUserInfoContext(ctx, id)
	if err != nil {
		if slackErrorCode(err) == "user_not_found" {
			return "", &incidentbot.Error{Code: incidentbot.ENotFound, Message: "no Slack user " + id, Err: err}
		}
		return "", s.err("users.info", err)
	}
	return u.Profile.Email, nil
}

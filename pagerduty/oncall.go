package pagerduty

import (
	"context"
	"slices"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/incidentbot/incidentbot"
)

const (
	// pageLimit is the page size asked of /oncalls, PagerDuty's maximum.
	pageLimit = 100
	// maxPages bounds the on-call listing; a policy has far fewer on-calls.
	maxPages = 10
)

// OnCallNow returns who is on call now for the configured escalation policy,
// lowest escalation level first (people of one level in PagerDuty's order),
// each person once, at their lowest level, with their email. It asks
// /oncalls with include[]=users and falls back to /users/{id} for any user
// listed without an email. An empty result means nobody is on call.
//
// It fails with EInvalid when the token or the escalation policy is not
// configured or PagerDuty rejects the query, EUnauthorized when PagerDuty
// refuses the token (401, 403), ENotFound on 404, and EUnavailable on a
// timeout, a network error, 429 or 5xx.
func (c *Client) OnCallNow(ctx context.Context) ([]incidentbot.OnCall, error) {
	op := "pagerduty: look up on-call for escalation policy " + c.cfg.EscalationPolicy
	if !c.CanLookUpOnCall() {
		return nil, &incidentbot.Error{Code: incidentbot.EInvalid, Op: op,
			Message: "The PagerDuty on-call look-up is not configured: set PAGERDUTY_TOKEN and PAGERDUTY_ESCALATION_POLICY"}
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()

	opts := pagerduty.ListOnCallOptions{
		EscalationPolicyIDs: []string{c.cfg.EscalationPolicy},
		Includes:            []string{"users"},
		Earliest:            true,
		Limit:               pageLimit,
	}
	var entries []pagerduty.OnCall
	for range maxPages {
		var page *pagerduty.ListOnCallsResponse
		err := c.call(ctx, op, whatOnCall, func(ctx context.Context) error {
			var err error
			page, err = c.pd.ListOnCallsWithContext(ctx, opts)
			return err
		})
		if err != nil {
			return nil, err
		}
		entries = append(entries, page.OnCalls...)
		if !page.More || len(page.OnCalls) == 0 {
			break
		}
		opts.Offset += uint(len(page.OnCalls))
	}

	people := lowestLevels(entries, c.cfg.EscalationPolicy)
	for i := range people {
		if people[i].Email != "" {
			continue
		}
		var u *pagerduty.User
		err := c.call(ctx, op, whatUser, func(ctx context.Context) error {
			var err error
			u, err = c.pd.GetUserWithContext(ctx, people[i].UserID, pagerduty.GetUserOptions{})
			return err
		})
		switch {
		case incidentbot.ErrorCode(err) == incidentbot.ENotFound:
			continue // deleted since it was put on call; keep the name
		case err != nil:
			return nil, err
		}
		people[i].Email = u.Email
		if u.Name != "" {
			people[i].Name = u.Name
		}
	}
	return people, nil
}

// lowestLevels keeps each user of policyID once, at their lowest escalation
// level, ordered by level and then by first appearance.
func lowestLevels(entries []pagerduty.OnCall, policyID string) []incidentbot.OnCall {
	var people []incidentbot.OnCall
	index := make(map[string]int)
	for _, e := range entries {
		if e.EscalationPolicy.ID != "" && e.EscalationPolicy.ID != policyID {
			continue
		}
		if e.User.ID == "" {
			continue
		}
		name := e.User.Name
		if name == "" {
			name = e.User.Summary
		}
		p := incidentbot.OnCall{UserID: e.User.ID, Name: name, Email: e.User.Email, Level: e.EscalationLevel}
		if i, ok := index[p.UserID]; ok {
			if p.Level < people[i].Level {
				people[i].Level = p.Level
			}
			if people[i].Email == "" {
				people[i].Email = p.Email
			}
			continue
		}
		index[p.UserID] = len(people)
		people = append(people, p)
	}
	slices.SortStableFunc(people, func(a, b incidentbot.OnCall) int {
		switch {
		case a.Level < b.Level:
			return -1
		case a.Level > b.Level:
			return 1
		}
		return 0
	})
	return people
}

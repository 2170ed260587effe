package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/slacktext"
)

const openUsage = "/incident open [--private] [sev1|sev2|sev3|sev4] <title>"

// MaxTitle is the longest accepted incident title, in bytes.
const MaxTitle = 200

// OpenRequest is an incident to open, from the command or the modal.
type OpenRequest struct {
	TeamID      string
	UserID      string
	Title       string
	Description string
	Severity    incidentbot.Severity // zero: the default
	// Private opens a private incident: a private channel, no
	// announcements, a PagerDuty alert without the title (see Visible).
	Private  bool
	DedupKey string // the trigger or view id
}

func (c *call) open() (Result, error) {
	if c.args == "" {
		return Result{OpenModal: true}, nil
	}
	req := OpenRequest{TeamID: c.inv.TeamID, UserID: c.inv.UserID, DedupKey: c.inv.DedupKey}
	args, private := privateFlag(c.args)
	req.Private = private
	if args == "" {
		return Result{}, invalid(openUsage, "The incident needs a title.")
	}
	first, rest := splitFirst(args)
	if sev, err := incidentbot.ParseSeverity(first); err == nil {
		req.Severity, req.Title = sev, rest
		if rest, private = privateFlag(rest); private {
			req.Private, req.Title = true, rest
		}
	} else if strings.HasPrefix(strings.ToLower(first), "sev") && rest != "" {
		return Result{}, invalid(openUsage, "%q is not a severity: use sev1, sev2, sev3 or sev4.", first)
	} else {
		req.Title = args
	}
	return c.Open(c.ctx, req)
}

// Open records a new incident and returns a Result whose Followup creates
// its channel, invites the declarer, posts and pins the header, and
// announces it. A title that is empty or too long fails with EInvalid.
func (s *Service) Open(ctx context.Context, req OpenRequest) (Result, error) {
	req.Title = strings.TrimSpace(req.Title)
	if req.Title == "" {
		return Result{}, invalid(openUsage, "The incident needs a title.")
	}
	if len(req.Title) > MaxTitle {
		return Result{}, invalid(openUsage, "The title is %d characters long; keep it under %d.", len(req.Title), MaxTitle)
	}
	if req.Severity == 0 {
		req.Severity = incidentbot.DefaultSeverity
	}
	now := s.now()
	inc := &incidentbot.Incident{
		Title:        req.Title,
		Description:  strings.TrimSpace(req.Description),
		Severity:     req.Severity,
		Private:      req.Private,
		Status:       incidentbot.StatusInvestigating,
		TeamID:       req.TeamID,
		Declarer:     req.UserID,
		OpenedAt:     now,
		LastUpdateAt: now,
	}
	opened := incidentbot.TimelineEvent{Kind: incidentbot.EventOpened, At: now, Actor: req.UserID, Text: req.Title, To: req.Severity.String()}
	s.pageOnChange(inc, 0, req.Severity, "opened at "+req.Severity.String(), req.UserID, now)
	key := ""
	if req.DedupKey != "" {
		key = "open:" + req.DedupKey
	}
	stored, created, err := s.store.CreateIncident(ctx, inc, key, opened)
	if err != nil {
		return Result{}, fmt.Errorf("open incident: %w", err)
	}
	if !created {
		return duplicateReply(stored), nil
	}
	s.observe(stored)
	reply := fmt.Sprintf("Opening *%s* (%s): %s — its channel is being created and you will be invited.", stored.Key(), stored.Severity, slacktext.Escape(stored.Title))
	if stored.Private {
		reply = fmt.Sprintf("Opening *%s* (%s, private): %s — its private channel is being created and you will be invited; "+
			"nothing is announced, and only its members see it.", stored.Key(), stored.Severity, slacktext.Escape(stored.Title))
	}
	if len(stored.Pager) > 0 {
		reply += " PagerDuty is being paged."
	}
	return Result{
		Reply: reply,
		Followup: func(ctx context.Context) error {
			err := s.setUpChannel(ctx, stored)
			if r, ok := errors.AsType[*refusal](err); ok && r.told {
				return nil // the declarer has the whole story in one message
			}
			return err
		},
	}, nil
}

// maxNameAttempts bounds the suffixes tried when channel names are taken.
const maxNameAttempts = 20

// setUpChannel creates the incident's channel and makes it usable. Taken
// names get a suffix; a name Slack refuses (non-ASCII letters a workspace
// will not take…) is tried once more as the plain "<prefix>-<n>". When
// the workspace forbids creating channels the refusal is recorded, and told
// to the declarer and announced the first time, and a *refusal (code
// EForbidden) is returned: the scheduler's channel repair tries again.
func (s *Service) setUpChannel(ctx context.Context, inc *incidentbot.Incident) error {
	claimed, err := s.claimChannel(ctx, inc.ID)
	if err != nil || !claimed {
		return err
	}
	created := false
	defer func() {
		if !created {
			s.releaseChannel(ctx, inc.ID)
		}
	}()
	base := channelName(s.cfg.ChannelPrefix, inc.ID, inc.Title, s.userNames(ctx))
	// The attempt's time, taken before Slack is asked: a refusal counts from
	// it, whenever its record is written.
	attempted := s.now()
	plain := PlainChannelName(s.cfg.ChannelPrefix, inc.ID)
	name, id := base, ""
	for n := 2; ; n++ {
		id, err = s.deps.Channels.CreateChannel(ctx, name, inc.Private)
		if err == nil {
			break
		}
		switch code := incidentbot.ErrorCode(err); {
		case code == incidentbot.EConflict && n <= maxNameAttempts:
			name = withSuffix(base, n)
			continue
		case code == incidentbot.EInvalid && base != plain:
			base, name, n = plain, plain, 1
			continue
		case code == incidentbot.EForbidden:
			return s.channelRefused(ctx, inc, attempted, err)
		}
		return fmt.Errorf("create the channel of %s: %w", inc.Key(), err)
	}
	now := s.now()
	inc, _, err = s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		if i.ChannelID != "" && i.ChannelID != id {
			return nil, &incidentbot.Error{Code: incidentbot.EConflict,
				Message: fmt.Sprintf("%s got channel %s meanwhile; channel %s (%s) is left unused", i.Key(), i.ChannelID, id, name)}
		}
		i.ChannelID, i.ChannelName = id, name
		i.ChannelRefused, i.ChannelRefusedAt = "", time.Time{}
		i.ChannelClaimUntil = time.Time{}
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventChannel, At: now, Ref: id, Text: name}}, nil
	})
	if err != nil {
		return fmt.Errorf("record the channel of %s: %w", inc.Key(), err)
	}
	created = true
	var errs []error
	if err := s.deps.Channels.Invite(ctx, id, inc.Declarer); err != nil {
		errs = append(errs, fmt.Errorf("invite the declarer: %w", err))
	}
	if err := s.postHeader(ctx, inc); err != nil {
		errs = append(errs, err)
	}
	if s.cfg.AnnounceChannel != "" && !inc.Private {
		text := fmt.Sprintf(":rotating_light: *%s* (%s) opened by %s: %s — join %s", inc.Key(), inc.Severity, mention(inc.Declarer), slacktext.Escape(inc.Title), channelLink(inc))
		if _, err := s.deps.Poster.Post(ctx, s.cfg.AnnounceChannel, text); err != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", inc.Key(), err))
		}
	}
	return errors.Join(errs...)
}

// channelClaim is how long a replica may take to create an incident's
// channel before another may try (Slack's timeouts and retries included).
const channelClaim = 2 * time.Minute

// claimChannel claims the creation of incident id's channel for this
// process, in the store: false when the incident has a channel already, or
// another process's claim has not expired (it is creating it). With several
// replicas this makes the channel be created once, whichever replica (its
// open command, or the scheduler's repair) gets there first.
func (s *Service) claimChannel(ctx context.Context, id int64) (bool, error) {
	now := s.now()
	var claimed bool
	_, _, err := s.updateIncident(ctx, id, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		claimed = false
		if i.ChannelID != "" || i.ChannelClaimUntil.After(now) {
			return nil, nil
		}
		i.ChannelClaimUntil = now.Add(channelClaim)
		claimed = true
		return nil, nil
	})
	if err != nil {
		return false, fmt.Errorf("claim the channel of %s: %w", incidentbot.IncidentKey(id), err)
	}
	return claimed, nil
}

// releaseChannel gives up this process's claim on creating incident id's
// channel after a failed attempt, so that the next repair (here or on
// another replica, after a restart too) need not wait for it to expire. A
// claim that cannot be released expires by itself.
func (s *Service) releaseChannel(ctx context.Context, id int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.updateIncident(ctx, id, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.ChannelClaimUntil = time.Time{}
		return nil, nil
	})
}

// userNames names the users the store knows, for channel names; none when
// the store cannot be read (the name then leaves mentions out).
func (s *Service) userNames(ctx context.Context) slacktext.Names {
	users, err := s.store.Users(ctx)
	if err != nil || len(users) == 0 {
		return slacktext.Names{}
	}
	return slacktext.Names{User: func(id string) string { return users[id].Name }}
}

// refusal is the error of a channel Slack refused to create; told is set
// when this attempt told the declarer.
type refusal struct {
	err  error
	told bool
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// channelRefused records that Slack refused to create inc's channel with
// cause (code EForbidden): ChannelRefusedAt is the attempt's time (at, taken before the call), and the
// first time also ChannelRefused and a channel_refused timeline event.
// That first time it tells the declarer by DM, in one message, what
// happened and what to do, and announces the incident without a channel.
// It returns a *refusal wrapping cause, joined with what failed.
func (s *Service) channelRefused(ctx context.Context, inc *incidentbot.Incident, at time.Time, cause error) error {
	now := at
	why := incidentbot.ErrorMessage(cause)
	first := false
	stored, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.ChannelRefusedAt = now
		if i.ChannelRefused != "" {
			return nil, nil
		}
		first = true
		i.ChannelRefused = why
		return []incidentbot.TimelineEvent{{Kind: incidentbot.EventChannelRefused, At: now, Text: why}}, nil
	})
	r := &refusal{err: fmt.Errorf("create the channel of %s: %w", inc.Key(), cause)}
	if err != nil {
		return errors.Join(r, fmt.Errorf("record that Slack refused the channel of %s: %w", inc.Key(), err))
	}
	if !first {
		return r
	}
	var errs []error
	if _, err := s.deps.Poster.Post(ctx, stored.Declarer, refusedText(stored, why)); err != nil {
		errs = append(errs, fmt.Errorf("tell the declarer of %s that its channel was refused: %w", stored.Key(), err))
	}
	if s.cfg.AnnounceChannel != "" && !stored.Private {
		text := fmt.Sprintf(":rotating_light: *%s* (%s) opened by %s: %s — it has no channel: Slack refused to create one. "+
			"Act on it from any channel by naming it: `/incident status %s <update>`.",
			stored.Key(), stored.Severity, mention(stored.Declarer), slacktext.Escape(stored.Title), stored.Key())
		if _, err := s.deps.Poster.Post(ctx, s.cfg.AnnounceChannel, text); err != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", stored.Key(), err))
		}
	}
	r.told = len(errs) == 0
	return errors.Join(append([]error{r}, errs...)...)
}

// refusedText is the one message that tells the declarer of inc that Slack
// refused to create its channel, and what to do.
func refusedText(inc *incidentbot.Incident, why string) string {
	k := inc.Key()
	return fmt.Sprintf(":no_entry: Slack refused to create a channel for *%s* (%s): %s.\n"+
		"The incident is open and everything is recorded. The bot keeps trying to create the channel, slowly, and invites you when it exists.\n"+
		"*What to do:* ask a Slack admin to allow apps to create channels (workspace settings, channel management permissions). "+
		"Meanwhile, work the incident from any channel by naming it first — `/incident status %s <update>`, `/incident role %s commander me`, "+
		"`/incident action %s <text> @owner` — and close it with `/incident resolve %s <summary>`.",
		k, slacktext.Escape(inc.Title), slacktext.Escape(why), k, k, k, k)
}

// postHeader posts and pins the header and records its ts.
func (s *Service) postHeader(ctx context.Context, inc *incidentbot.Incident) error {
	ts, err := s.postMessage(ctx, inc.ChannelID, HeaderMessage(inc))
	if err != nil {
		return fmt.Errorf("post the header of %s: %w", inc.Key(), err)
	}
	if _, _, err := s.updateIncident(ctx, inc.ID, "", func(i *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
		i.HeaderTS = ts
		return nil, nil
	}); err != nil {
		return fmt.Errorf("record the header of %s: %w", inc.Key(), err)
	}
	if err := s.deps.Channels.Pin(ctx, inc.ChannelID, ts); err != nil {
		return fmt.Errorf("pin the header of %s: %w", inc.Key(), err)
	}
	return nil
}

// refreshHeader brings the pinned header of incident id up to date. It
// reads the incident afresh. While one refresh of an incident runs, further
// requests collapse into one more refresh after it, and updates follow each
// other no closer than Config.HeaderEvery (real time: it paces Slack
// calls): a burst of changes costs one chat.update at once and one a
// second while it lasts, and the last one shows the latest state.
func (s *Service) refreshHeader(ctx context.Context, id int64) error {
	s.hmu.Lock()
	if s.headerBusy[id] {
		s.headerDirty[id] = true
		s.hmu.Unlock()
		return nil
	}
	s.headerBusy[id] = true
	s.hmu.Unlock()
	var err error
	for {
		s.hmu.Lock()
		wait := time.Until(s.headerLast[id].Add(s.cfg.HeaderEvery))
		s.hmu.Unlock()
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() == nil {
			err = s.updateHeader(ctx, id)
		}
		s.hmu.Lock()
		s.headerLast[id] = time.Now()
		if !s.headerDirty[id] || ctx.Err() != nil {
			delete(s.headerBusy, id)
			delete(s.headerDirty, id)
			s.hmu.Unlock()
			return err
		}
		delete(s.headerDirty, id)
		s.hmu.Unlock()
	}
}

func (s *Service) updateHeader(ctx context.Context, id int64) error {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return fmt.Errorf("update the header of INC-%d: %w", id, err)
	}
	if inc.ChannelID == "" || inc.HeaderTS == "" || inc.ChannelGone != "" {
		return nil
	}
	if err := s.updateMessage(ctx, inc.ChannelID, inc.HeaderTS, HeaderMessage(inc)); err != nil {
		return fmt.Errorf("update the header of %s: %w", inc.Key(), s.goneWork(ctx, inc, err))
	}
	return nil
}

// ResumeChannels sets up the channel of every open incident opened before
// the given time that has none: the bot stopped, or Slack kept failing,
// between recording the incident and creating its channel, or the
// workspace forbids apps to create channels. The scheduler runs it at
// start-up and then slowly, with a time that leaves out incidents whose own
// command may still be setting them up. A resolved incident is left alone,
// so resolving one (by id) ends the retries. Errors are joined; a
// forbidden creation is among them (code EForbidden), told only once.
func (s *Service) ResumeChannels(ctx context.Context, before time.Time) error {
	incs, err := s.store.Incidents(ctx, true)
	if err != nil {
		return fmt.Errorf("resume channels: %w", err)
	}
	now := s.now()
	var errs []error
	for _, inc := range incs {
		if inc.ChannelID != "" || !inc.OpenedAt.Before(before) {
			continue
		}
		if inc.ChannelRefused != "" && now.Sub(inc.ChannelRefusedAt) < RefusedRetry {
			continue // forbidden: only an admin can change that; retried slowly
		}
		errs = append(errs, s.setUpChannel(ctx, inc))
	}
	return errors.Join(errs...)
}

// RefusedRetry is how long after Slack refused to create an incident's
// channel (the workspace forbids apps to, restricted_action) creation is
// tried again.
const RefusedRetry = 10 * time.Minute

package templates

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/incidentbot/incidentbot"
)

// RecordSource reads what a post-mortem is made of. store.DB implements it.
type RecordSource interface {
	Incident(ctx context.Context, id int64) (*incidentbot.Incident, error)
	Events(ctx context.Context, id int64, fn func(*incidentbot.TimelineEvent) error) error
	EventCount(ctx context.Context, id int64) (int, error)
	Users(ctx context.Context) (map[string]incidentbot.User, error)
}

// LoadRecord reads incident id with its timeline and the known users. It
// fails with ENotFound for an unknown incident.
func LoadRecord(ctx context.Context, src RecordSource, id int64) (*incidentbot.Record, error) {
	inc, err := src.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	n, err := src.EventCount(ctx, id)
	if err != nil {
		return nil, err
	}
	// Sized up front: growing a slice of 100,000 events copied it ~20 times.
	rec := &incidentbot.Record{Incident: inc, Events: make([]incidentbot.TimelineEvent, 0, n)}
	if err := src.Events(ctx, id, func(e *incidentbot.TimelineEvent) error {
		rec.Events = append(rec.Events, *e)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the timeline of %s: %w", inc.Key(), err)
	}
	if rec.Users, err = src.Users(ctx); err != nil {
		return nil, fmt.Errorf("read user names: %w", err)
	}
	return rec, nil
}

// Drafts renders post-mortem drafts from the record with a template. It
// satisfies commands.Drafter.
type Drafts struct {
	Source   RecordSource
	Template *PostMortem
}

// Render writes the post-mortem of incident id to w.
func (d Drafts) Render(ctx context.Context, id int64, w io.Writer) error {
	rec, err := LoadRecord(ctx, d.Source, id)
	if err != nil {
		return err
	}
	if err := d.Template.Render(w, Input{Incident: rec.Incident, Events: rec.Events, Users: rec.Users}); err != nil {
		return fmt.Errorf("render the post-mortem of %s: %w", rec.Incident.Key(), err)
	}
	return nil
}

// Draft returns the file name and content of incident id's post-mortem.
func (d Drafts) Draft(ctx context.Context, id int64) (string, []byte, error) {
	var buf bytes.Buffer
	if err := d.Render(ctx, id, &buf); err != nil {
		return "", nil, err
	}
	return incidentbot.IncidentKey(id) + "-postmortem.md", buf.Bytes(), nil
}

package localapi

import (
	"context"
	"fmt"
	"io"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/templates"
)

// Path is the local API socket of a database file.
func Path(db string) string { return db + ".sock" }

// Listing is what `incidentbot list` shows: incidents and the names of
// their people.
type Listing struct {
	Incidents []*incidentbot.Incident     `json:"incidents"`
	Users     map[string]incidentbot.User `json:"users"`
}

// Reader is the read side of an incident database, opened directly (Local)
// or through a running serve (Client).
type Reader interface {
	// List returns the open incidents, or all of them.
	List(ctx context.Context, all bool) (*Listing, error)
	// Record returns incident id with its timeline and user names; it fails
	// with ENotFound for an unknown incident.
	Record(ctx context.Context, id int64) (*incidentbot.Record, error)
	// Postmortem writes incident id's post-mortem draft to w; it fails with
	// ENotFound for an unknown incident.
	Postmortem(ctx context.Context, id int64, w io.Writer) error
	// Backup writes a consistent copy of the whole database to w.
	Backup(ctx context.Context, w io.Writer) error
	// Close releases the connection, if any; it does not close a store.
	Close() error
}

// Store is what Local reads. store.DB implements it.
type Store interface {
	templates.RecordSource
	Incidents(ctx context.Context, openOnly bool) ([]*incidentbot.Incident, error)
	Backup(w io.Writer) (int64, error)
}

// Local reads an open store: serve's side of the socket, and the command
// line's when no serve runs.
type Local struct {
	Store Store
	// Template renders post-mortems.
	Template *templates.PostMortem
}

var (
	_ Reader = Local{}
	_ Reader = (*Client)(nil)
)

// List returns the open incidents, or all of them, with the known users.
// It fails with the store's error.
func (l Local) List(ctx context.Context, all bool) (*Listing, error) {
	incs, err := l.Store.Incidents(ctx, !all)
	if err != nil {
		return nil, err
	}
	users, err := l.Store.Users(ctx)
	if err != nil {
		return nil, err
	}
	if incs == nil {
		incs = []*incidentbot.Incident{}
	}
	return &Listing{Incidents: incs, Users: users}, nil
}

// Record reads incident id's record; it fails with ENotFound for an unknown
// incident, or with the store's error.
func (l Local) Record(ctx context.Context, id int64) (*incidentbot.Record, error) {
	return templates.LoadRecord(ctx, l.Store, id)
}

// Postmortem renders incident id's draft to w; it fails as Record does, or
// with the template's error.
func (l Local) Postmortem(ctx context.Context, id int64, w io.Writer) error {
	return templates.Drafts{Source: l.Store, Template: l.Template}.Render(ctx, id, w)
}

// Backup writes a consistent copy of the database to w in one read
// transaction; it fails with the store's or w's error.
func (l Local) Backup(_ context.Context, w io.Writer) error {
	if _, err := l.Store.Backup(w); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Close does nothing: the store belongs to the caller.
func (Local) Close() error { return nil }

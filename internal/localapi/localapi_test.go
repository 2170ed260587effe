package localapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/templates"
)

// TestStatusTable: the table maps every code to its own status and back, so
// a code survives the trip through HTTP.
func TestStatusTable(t *testing.T) {
	tests := []struct {
		code   string
		status int
	}{
		{incidentbot.EInvalid, http.StatusBadRequest},
		{incidentbot.ENotFound, http.StatusNotFound},
		{incidentbot.EConflict, http.StatusConflict},
		{incidentbot.EUnauthorized, http.StatusForbidden},
		{incidentbot.EUnavailable, http.StatusServiceUnavailable},
		{incidentbot.EInternal, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := httpStatus(tt.code); got != tt.status {
			t.Errorf("httpStatus(%s) = %d, want %d", tt.code, got, tt.status)
		}
		if got := errorCode(tt.status); got != tt.code {
			t.Errorf("errorCode(%d) = %s, want %s", tt.status, got, tt.code)
		}
	}
	if len(codeStatuses()) != len(tests) {
		t.Errorf("the table has %d rows, this test knows %d", len(codeStatuses()), len(tests))
	}
	if got := httpStatus("no_such_code"); got != http.StatusInternalServerError {
		t.Errorf("an unknown code answers %d, want 500", got)
	}
	if got := errorCode(http.StatusBadGateway); got != incidentbot.EInternal {
		t.Errorf("a 502 reads as %s, want internal", got)
	}
}

// socketPath is a socket in a fresh directory.
func socketPath(t *testing.T) string {
	// Unix socket paths are limited to about 100 bytes; t.TempDir() can be
	// longer than that for long test names.
	dir, err := os.MkdirTemp("", "localapi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "db.sock")
}

// serve serves r on a new socket and returns a client of it.
func serve(t *testing.T, r Reader) *Client {
	t.Helper()
	path := socketPath(t)
	log := logrus.New()
	log.Out = io.Discard
	srv, err := Listen(path, r, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket is left behind: %v", err)
		}
	})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v, want 0600", fi.Mode(), err)
	}
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServerAndClient: over a real socket, the client reads what Local
// reads from a real store, byte for byte.
func TestServerAndClient(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "incidentbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	inc, _, err := db.CreateIncident(ctx, &incidentbot.Incident{
		Title: "Payments down", Severity: incidentbot.Sev1, Status: incidentbot.StatusInvestigating,
		TeamID: "T1", Declarer: "U1", ChannelID: "C1", ChannelName: "inc-1-payments-down", OpenedAt: at, LastUpdateAt: at,
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendEvents(ctx, incidentbot.TimelineEvent{
		IncidentID: inc.ID, Kind: incidentbot.EventMessage, At: at.Add(time.Minute), Actor: "U1",
		TS: "1770112860.000100", DedupKey: "msg:1770112860.000100", Text: "card processor returns 502",
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUsers(ctx, incidentbot.User{ID: "U1", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	local := Local{Store: db, Template: templates.Default()}
	c := serve(t, local)

	for _, all := range []bool{false, true} {
		want, err := local.List(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.List(ctx, all)
		if err != nil || len(got.Incidents) != 1 || got.Incidents[0].Title != "Payments down" || got.Users["U1"].Name != "Alice" {
			t.Errorf("List(%v) = %+v, %v", all, got, err)
		} else if !reflect.DeepEqual(got.Users, want.Users) {
			t.Errorf("List(%v) users = %v, want %v", all, got.Users, want.Users)
		}
	}
	rec, err := c.Record(ctx, inc.ID)
	if err != nil || rec.Incident.Title != "Payments down" || len(rec.Events) != 1 || rec.Events[0].Text != "card processor returns 502" {
		t.Errorf("Record = %+v, %v", rec, err)
	}
	var want, got bytes.Buffer
	if err := local.Postmortem(ctx, inc.ID, &want); err != nil {
		t.Fatal(err)
	}
	if err := c.Postmortem(ctx, inc.ID, &got); err != nil || got.String() != want.String() {
		t.Errorf("Postmortem through the socket differs from the local one (%v)", err)
	}
	if _, err := c.Record(ctx, 99); incidentbot.ErrorCode(err) != incidentbot.ENotFound {
		t.Errorf("Record(99) = %v, want not found", err)
	}
	backup := filepath.Join(dir, "backup.db")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := store.Check(backup); err != nil {
		t.Error(err)
	}
}

// failing is a Reader whose every call fails with err.
type failing struct{ err error }

func (f failing) List(context.Context, bool) (*Listing, error)               { return nil, f.err }
func (f failing) Record(context.Context, int64) (*incidentbot.Record, error) { return nil, f.err }
func (f failing) Postmortem(context.Context, int64, io.Writer) error         { return f.err }
func (f failing) Backup(context.Context, io.Writer) error                    { return f.err }
func (f failing) Close() error                                               { return nil }

// TestErrorsCrossTheSocket: the client gets the code and the user-safe
// message of the server's error, never its internals.
func TestErrorsCrossTheSocket(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		err     error
		code    string
		message string
	}{
		{"locked database", &incidentbot.Error{Code: incidentbot.EUnavailable, Message: "the incident database is in use", Err: errors.New("timeout")},
			incidentbot.EUnavailable, "the incident database is in use"},
		{"conflict", incidentbot.Errorf(incidentbot.EConflict, "newer schema"), incidentbot.EConflict, "newer schema"},
		{"not found", incidentbot.Errorf(incidentbot.ENotFound, "INC-9 does not exist"), incidentbot.ENotFound, "INC-9 does not exist"},
		{"invalid", incidentbot.Errorf(incidentbot.EInvalid, "bad"), incidentbot.EInvalid, "bad"},
		{"unauthorized", incidentbot.Errorf(incidentbot.EUnauthorized, "no"), incidentbot.EUnauthorized, "no"},
		{"a plain error", errors.New("disk secret /var/x"), incidentbot.EInternal, incidentbot.ErrorMessage(errors.New("x"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, failing{tt.err})
			_, lerr := c.List(ctx, false)
			_, rerr := c.Record(ctx, 1)
			perr := c.Postmortem(ctx, 1, io.Discard)
			for _, err := range []error{lerr, rerr, perr} {
				if got := incidentbot.ErrorCode(err); got != tt.code {
					t.Errorf("code %s, want %s (%v)", got, tt.code, err)
				}
				if got := incidentbot.ErrorMessage(err); got != tt.message {
					t.Errorf("message %q, want %q", got, tt.message)
				}
			}
		})
	}
	c := serve(t, failing{errors.New("disk gone")})
	if _, err := c.get(ctx, "/v1/incidents/nine/record"); incidentbot.ErrorCode(err) != incidentbot.EInvalid {
		t.Errorf("a bad id: %v, want invalid", err)
	}
}

// TestDialWithoutServe: no serve, no client.
func TestDialWithoutServe(t *testing.T) {
	if _, err := Dial(socketPath(t)); err == nil {
		t.Error("Dial found a serve where none runs")
	}
}

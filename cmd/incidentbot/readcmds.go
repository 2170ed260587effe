package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/localapi"
	"github.com/incidentbot/incidentbot/templates"
)

// openReader asks a running serve when one answers on the database's
// socket, and otherwise opens the database read-only (with the post-mortem
// template when drafts are wanted).
func (m *Main) openReader(drafts bool) (localapi.Reader, error) {
	if !m.Config.Postgres() {
		if c, err := localapi.Dial(localapi.Path(m.Config.DB)); err == nil {
			return c, nil
		}
	}
	// PostgreSQL is read directly, whether or not replicas run.
	db, _, err := m.openDatabase(context.Background(), true, nil)
	if err != nil {
		return nil, err
	}
	m.Store = db
	local := localapi.Local{Store: db}
	if drafts {
		if local.Template, err = templates.Load(m.Config.PostmortemTemplate); err != nil {
			return nil, err
		}
	}
	return local, nil
}

func (m *Main) export(ctx context.Context) error {
	id, err := incidentbot.ParseIncidentKey(m.args[0])
	if err != nil {
		return usageError{fmt.Errorf("%s: incidentbot %s", incidentbot.ErrorMessage(err), m.sub.usage)}
	}
	format := m.opts.format
	if format != "markdown" && format != "json" {
		return usageError{fmt.Errorf("--format %q: use markdown or json", format)}
	}
	r, err := m.openReader(format == "markdown")
	if err != nil {
		return err
	}
	defer r.Close()
	var buf strings.Builder
	if format == "json" {
		rec, err := r.Record(ctx, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return err
		}
	} else if err := r.Postmortem(ctx, id, &buf); err != nil {
		return err
	}
	if m.opts.out == "" {
		_, err = io.WriteString(m.Stdout, buf.String())
		return err
	}
	if err := os.WriteFile(m.opts.out, []byte(buf.String()), 0o644); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func (m *Main) list(ctx context.Context) error {
	r, err := m.openReader(false)
	if err != nil {
		return err
	}
	defer r.Close()
	l, err := r.List(ctx, m.opts.all)
	if err != nil {
		return err
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tSTATUS\tAGE\tCOMMANDER\tLAST UPDATE\tTITLE")
	for _, inc := range l.Incidents {
		commander := "-"
		if id := inc.Roles[incidentbot.RoleCommander]; id != "" {
			commander = id
			if u, ok := l.Users[id]; ok && u.Name != "" {
				commander = u.Name
			}
		}
		age := commands.Age(now.Sub(inc.OpenedAt))
		since := commands.Age(now.Sub(inc.LastUpdateAt)) + " ago"
		if inc.Resolved() {
			age = commands.Age(inc.ResolvedAt.Sub(inc.OpenedAt)) + " (resolved)"
			since = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", inc.Key(), inc.Severity, inc.Status, age, commander, since, oneLine(inc.Title))
	}
	return tw.Flush()
}

// oneLine keeps a title on its row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// backup writes a consistent copy of the database to a file, through a
// running serve (one read transaction, which does not block it) or, without
// one, from the file opened read-only; the copy is written beside the file,
// synced, then renamed, so that FILE is never half written.
func (m *Main) backup(ctx context.Context) error {
	file := m.args[0]
	tmp := file + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp)
	r, err := m.openReader(false)
	if err != nil {
		f.Close()
		return fmt.Errorf("backup: %w", err)
	}
	err = r.Backup(ctx, f) // its errors say "backup" already
	r.Close()
	if err != nil {
		f.Close()
		return err
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintln(m.Stdout, "backup written to", file)
	return nil
}

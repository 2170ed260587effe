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
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/templates"
)

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns.
func (m *Main) parseInterspersed(args []string) ([]string, error) {
	var pos []string
	for {
		if err := m.loadConfig(args); err != nil {
			return nil, err
		}
		rest := m.flags.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// openReader asks a running serve when one answers on the database's
// socket, and otherwise opens the database read-only.
func (m *Main) openReader() (reader, error) {
	if r, err := dialLocalAPI(socketPath(m.Config.DB)); err == nil {
		return r, nil
	}
	db, err := store.Open(m.Config.DB, store.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	m.Store = db
	pm, err := templates.Load(m.Config.PostmortemTemplate)
	if err != nil {
		return nil, err
	}
	return &localReader{db: db, drafts: templates.Drafts{Source: db, Template: pm}}, nil
}

func (m *Main) export(ctx context.Context) error {
	out := m.flags.String("o", "", "write to this file instead of standard output")
	format := m.flags.String("format", "markdown", "markdown (the post-mortem draft) or json (the full record)")
	pos, err := m.parseInterspersed(m.args)
	if err != nil {
		return err
	}
	const form = "incidentbot export INC-ID [-o FILE] [--format markdown|json]"
	if len(pos) != 1 {
		return usageError{fmt.Errorf("export needs exactly one incident id: %s", form)}
	}
	id, err := incidentbot.ParseIncidentKey(pos[0])
	if err != nil {
		return usageError{fmt.Errorf("%s: %s", incidentbot.ErrorMessage(err), form)}
	}
	if *format != "markdown" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: use markdown or json", *format)}
	}
	r, err := m.openReader()
	if err != nil {
		return err
	}
	defer r.Close()
	var buf strings.Builder
	if *format == "json" {
		rec, err := r.record(ctx, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return err
		}
	} else if err := r.postmortem(ctx, id, &buf); err != nil {
		return err
	}
	if *out == "" {
		_, err = io.WriteString(m.Stdout, buf.String())
		return err
	}
	if err := os.WriteFile(*out, []byte(buf.String()), 0o644); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func (m *Main) list(ctx context.Context) error {
	all := m.flags.Bool("all", false, "list resolved incidents too")
	pos, err := m.parseInterspersed(m.args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Errorf("list takes no arguments: incidentbot list [--all]")}
	}
	r, err := m.openReader()
	if err != nil {
		return err
	}
	defer r.Close()
	l, err := r.list(ctx, *all)
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

// backup writes a consistent copy of the database to a file: through a
// running serve (one read transaction, which does not block it) or, without
// one, from the file opened read-only.
func (m *Main) backup(ctx context.Context) error {
	pos, err := m.parseInterspersed(m.args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("backup needs the file to write: incidentbot backup FILE")}
	}
	tmp := pos[0] + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp)
	if r, err := dialLocalAPI(socketPath(m.Config.DB)); err == nil {
		err = r.backup(ctx, f)
		r.Close()
		if err != nil {
			f.Close()
			return err
		}
	} else {
		db, err := store.Open(m.Config.DB, store.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
		if err != nil {
			f.Close()
			return err
		}
		m.Store = db
		if _, err := db.Backup(f); err != nil {
			f.Close()
			return fmt.Errorf("backup: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, pos[0]); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintln(m.Stdout, "backup written to", pos[0])
	return nil
}

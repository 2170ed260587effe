package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/incidentbot/incidentbot/internal/ops"
)

// subcommand is one row of the command line: its name and aliases, its
// usage, its own flags and positional arguments, and what it runs.
type subcommand struct {
	name    string
	aliases []string
	usage   string // after "incidentbot "
	help    string
	// flags registers the subcommand's own flags; nil means none beyond
	// the configuration's.
	flags func(*options, *flag.FlagSet)
	args  int // how many positional arguments it takes
	// noConfig subcommands (help, version) take no flags and load no
	// configuration.
	noConfig bool
	run      func(*Main, context.Context) error
}

// options are the values of the subcommands' own flags.
type options struct {
	out    string // demo: directory; export: file
	format string // export
	all    bool   // list
	from   string // migrate: the bbolt file
	to     string // migrate: the PostgreSQL URL
}

// subcommands is the command line, in the order usage shows it.
func subcommands() []subcommand {
	return []subcommand{
		{name: "serve", usage: "[serve] [flags]", help: "connect to Slack over Socket Mode and run", run: (*Main).serve},
		{name: "demo", usage: "demo [-o DIR]", help: "run a scripted incident against the built-in Slack and PagerDuty emulators",
			flags: func(o *options, fs *flag.FlagSet) {
				fs.StringVar(&o.out, "o", ".", "directory for the post-mortem file (created if missing)")
			}, run: (*Main).demo},
		{name: "export", usage: "export INC-ID [-o FILE] [--format markdown|json]", help: "the post-mortem draft or the full record of an incident",
			flags: func(o *options, fs *flag.FlagSet) {
				fs.StringVar(&o.out, "o", "", "write to this file instead of standard output")
				fs.StringVar(&o.format, "format", "markdown", "markdown (the post-mortem draft) or json (the full record)")
			}, args: 1, run: (*Main).export},
		{name: "list", usage: "list [--all]", help: "list open (or all) incidents",
			flags: func(o *options, fs *flag.FlagSet) { fs.BoolVar(&o.all, "all", false, "list resolved incidents too") },
			run:   (*Main).list},
		{name: "backup", usage: "backup FILE", help: "consistent copy of the database, also while serve runs", args: 1, run: (*Main).backup},
		{name: "migrate", usage: "migrate --from FILE --to postgres://…", help: "copy a bbolt database into PostgreSQL (again: only what is missing), checking every incident",
			flags: func(o *options, fs *flag.FlagSet) {
				fs.StringVar(&o.from, "from", "", "the bbolt database file to copy (opened read-only; stop serve first)")
				fs.StringVar(&o.to, "to", "", "the PostgreSQL database URL (postgres://user:password@host:5432/db)")
			}, run: (*Main).migrate},
		{name: "healthcheck", usage: "healthcheck", help: "exit 0 when /healthz on INCIDENTBOT_HTTP_ADDR answers (container health checks)",
			run: func(m *Main, ctx context.Context) error { return ops.Check(ctx, m.Config.HTTPAddr) }},
		{name: "version", usage: "version", help: "print the version", noConfig: true,
			run: func(m *Main, _ context.Context) error {
				_, err := fmt.Fprintln(m.Stdout, "incidentbot", Version)
				return err
			}},
		{name: "help", aliases: []string{"-h", "--help"}, usage: "help", help: "this text", noConfig: true,
			run: func(m *Main, _ context.Context) error { _, err := fmt.Fprint(m.Stdout, usage()); return err }},
	}
}

// lookupSubcommand finds a subcommand by name or alias.
func lookupSubcommand(name string) (subcommand, bool) {
	for _, s := range subcommands() {
		if s.name == name || slices.Contains(s.aliases, name) {
			return s, true
		}
	}
	return subcommand{}, false
}

// usage is the program's help, made from the table.
func usage() string {
	var b strings.Builder
	b.WriteString("incidentbot — a Slack incident bot\n\nUsage:\n")
	for _, s := range subcommands() {
		fmt.Fprintf(&b, "  incidentbot %-50s %s\n", s.usage, s.help)
	}
	b.WriteString("\nConfiguration: environment variables, an optional --config FILE (YAML), flags; every subcommand reads it.\n" +
		"Run 'incidentbot serve -h' for every setting. The load and soak tools are a separate command: go run ./cmd/incidentbot-load.\n")
	return b.String()
}

// Command incidentbot-load is incidentbot's load and crash-safety tool, kept
// out of the release binary. It runs the real bot, an incidentbot binary as
// its own process, against the built-in Slack emulator over loopback:
//
//	incidentbot-load bench [--quick] [-o FILE] [-bin FILE]   measure, write BENCHMARKS.md
//	incidentbot-load bench --postgres URL [...]              the same, bbolt and PostgreSQL side by side
//	incidentbot-load soak [-kills N] [-bin FILE]             SIGKILL the bot N times during a burst
//
// Without -bin it builds ./cmd/incidentbot with `go build` first, so run it
// from the repository: `go run ./cmd/incidentbot-load bench`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

const usage = `incidentbot-load — load and crash-safety runs of the real bot against the built-in Slack emulator

Usage:
  incidentbot-load bench [--quick] [-o FILE] [-bin FILE] [--postgres URL]
                                                          measure the bot and write BENCHMARKS.md; with --postgres,
                                                          on PostgreSQL too (3 replicas), side by side with bbolt
  incidentbot-load soak [-kills N] [-bin FILE]             SIGKILL the bot N times during a burst and check nothing was lost

-bin is the incidentbot binary to run; without it, ./cmd/incidentbot is built with go build.
--postgres is the URL of a PostgreSQL database in which the tool creates fresh schemas
(incidentbot_load_*), dropped at the end.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "incidentbot-load:", err)
		if _, ok := errors.AsType[usageError](err); ok {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake in how the tool was called.
type usageError struct{ error }

// run runs one subcommand with its arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("name a subcommand\n\n" + usage)}
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("incidentbot-load "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "", "the incidentbot binary to run (default: build ./cmd/incidentbot)")
	switch cmd {
	case "bench":
		out := fs.String("o", "BENCHMARKS.md", "where to write the results (markdown)")
		quick := fs.Bool("quick", false, "small sizes that run in seconds (for tests)")
		pg := fs.String("postgres", "", "also measure on PostgreSQL: the URL of a database where the tool may create (and drops) schemas")
		if err := parse(fs, args); err != nil {
			return err
		}
		return withRun(stdout, *bin, func(b *benchRun) error { return b.bench(ctx, *quick, *out, *pg) })
	case "soak":
		kills := fs.Int("kills", 100, "how many times to SIGKILL the bot")
		if err := parse(fs, args); err != nil {
			return err
		}
		return withRun(stdout, *bin, func(b *benchRun) error { return b.soak(ctx, *kills) })
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Errorf("unknown subcommand %q\n\n%s", cmd, usage)}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return nil
}

// withRun gives fn a benchRun with a temporary directory and the bot binary,
// and cleans up after it: child processes, the emulator, the directory.
func withRun(stdout io.Writer, bin string, fn func(*benchRun) error) error {
	dir, err := os.MkdirTemp("", "incidentbot-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		if bin, err = buildBot(dir); err != nil {
			return err
		}
	}
	b := &benchRun{w: stdout, dir: dir, exe: bin}
	defer b.close()
	return fn(b)
}

// buildBot builds the incidentbot command into dir, as it ships (without
// the race detector, which would slow every restart).
func buildBot(dir string) (string, error) {
	bin := filepath.Join(dir, "incidentbot")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/incidentbot/incidentbot/cmd/incidentbot")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the bot (run from the repository, or give -bin): %v\n%s", err, out)
	}
	return bin, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/incidentbot/incidentbot/internal/demo"
	"github.com/incidentbot/incidentbot/internal/githubemu"
	"github.com/incidentbot/incidentbot/internal/pagerdutyemu"
	"github.com/incidentbot/incidentbot/internal/slackemu"
	"github.com/incidentbot/incidentbot/templates"
)

// demo runs one scripted incident through serve's wiring (runBot), pointed
// at the in-process Slack and PagerDuty emulators and a database in a
// temporary directory, and prints what each participant sees, then the
// recorded timeline; the post-mortem draft goes to the -o directory. The
// rest of the configuration (--config, environment, flags) applies.
func (m *Main) demo(ctx context.Context) error {
	if err := os.MkdirAll(m.opts.out, 0o755); err != nil {
		return fmt.Errorf("demo: the post-mortem directory: %w", err)
	}
	emu, err := slackemu.New(slackemu.Config{})
	if err != nil {
		return fmt.Errorf("demo: start the Slack emulator: %w", err)
	}
	defer emu.Close()
	const routingKey, pdToken = "DEMO0R0UT1NGKEY0123456789ABCDEFG", "demo-pagerduty-token"
	pd, err := pagerdutyemu.New(pagerdutyemu.Config{RoutingKeys: []string{routingKey}, Token: pdToken})
	if err != nil {
		return fmt.Errorf("demo: start the PagerDuty emulator: %w", err)
	}
	defer pd.Close()
	dir, err := os.MkdirTemp("", "incidentbot-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	t := demo.NewTranscript(emu, m.Stdout)
	cast := demo.Setup(t, pd)
	// Action items go to GitHub Issues (the built-in emulator) unless the
	// configuration names a tracker of its own.
	if m.Config.Tracker.GitHubToken == "" && m.Config.Tracker.JiraURL == "" {
		const ghToken, repo = "demo-github-token", "acme/checkout"
		gh, err := githubemu.New(githubemu.Config{Repo: repo, Token: ghToken})
		if err != nil {
			return fmt.Errorf("demo: start the GitHub emulator: %w", err)
		}
		defer gh.Close()
		gh.AddUser("bob-gh")
		tc := &m.Config.Tracker
		tc.GitHubToken, tc.GitHubRepo, tc.GitHubAPIURL = ghToken, repo, gh.URL()+"/"
		tc.UserMap = map[string]string{"bob@example.com": "bob-gh"}
	}

	cfg := &m.Config
	cfg.BotToken, cfg.AppToken, cfg.SlackAPIURL = emu.Config().BotToken, emu.Config().AppToken, emu.URL()
	cfg.PDRoutingKey, cfg.PDToken, cfg.PDEscalationPolicy, cfg.PDAPIURL, cfg.PDEventsURL = routingKey, pdToken, demo.OnCallPolicy, pd.URL(), pd.URL()
	cfg.DB, cfg.HTTPAddr, cfg.AnnounceChannel = filepath.Join(dir, "demo.db"), "", cast.Announce
	m.Logger.Out = io.Discard // the transcript is the output
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.runBot(runCtx) }()
	defer func() { stop(); <-done }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := emu.WaitConnected(wctx, 1); err != nil {
		return fmt.Errorf("demo: the bot did not connect to the emulator: %w", err)
	}

	if err := demo.Play(t, cast); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	stop()
	if err := <-done; err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	done <- nil
	if err := t.Timeline(ctx, m.Store, 1); err != nil {
		return err
	}
	name, content, err := templates.Drafts{Source: m.Store, Template: m.pm}.Draft(ctx, 1)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	path := filepath.Join(m.opts.out, name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return fmt.Errorf("demo: write the post-mortem: %w", err)
	}
	fmt.Fprintf(m.Stdout, "\n== The post-mortem draft (also uploaded to the channel) is in %s\n", path)
	return nil
}

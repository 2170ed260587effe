package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/incidentbot/incidentbot/commands"
	"github.com/incidentbot/incidentbot/internal/ops"
	"github.com/incidentbot/incidentbot/tracker/github"
	"github.com/incidentbot/incidentbot/tracker/jira"
)

// trackerSettings are the configuration keys of the issue trackers.
func trackerSettings() []setting {
	return []setting{
		{env: "GITHUB_TOKEN", help: "GitHub token with read/write access to the issues of INCIDENTBOT_GITHUB_REPO", secret: true},
		{env: "INCIDENTBOT_GITHUB_REPO", help: "owner/name of the repository whose issues mirror action items"},
		{env: "INCIDENTBOT_GITHUB_API_URL", def: github.DefaultAPIURL, help: "GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3/)"},
		{env: "JIRA_URL", help: "Jira Cloud site whose issues mirror action items, https://example.atlassian.net"},
		{env: "JIRA_EMAIL", help: "email of the Jira account of JIRA_API_TOKEN"},
		{env: "JIRA_API_TOKEN", help: "Jira API token", secret: true},
		{env: "INCIDENTBOT_JIRA_PROJECT", help: "Jira project key of the issues, like OPS"},
		{env: "INCIDENTBOT_JIRA_ISSUE_TYPE", def: jira.DefaultIssueType, help: "Jira issue type of the issues"},
		{env: "INCIDENTBOT_USER_MAP", help: "YAML or JSON file mapping Slack emails to GitHub logins, for assignees"},
		{env: "INCIDENTBOT_TRACKER_POLL", def: "2m", help: "how often issues closed or reopened in the tracker are looked for"},
	}
}

// TrackerConfig is the issue tracker part of Config.
type TrackerConfig struct {
	GitHubToken, GitHubRepo, GitHubAPIURL string
	JiraURL, JiraEmail, JiraToken         string
	JiraProject, JiraIssueType            string
	UserMapFile                           string
	// UserMap is the file's mapping, loaded by parseConfig.
	UserMap     map[string]string
	TrackerPoll time.Duration
}

// parseTracker reads the tracker keys of raw into c and checks them:
// a tracker half configured, or both at once, is an error.
func parseTracker(raw map[string]string) (TrackerConfig, error) {
	c := TrackerConfig{
		GitHubToken: raw["GITHUB_TOKEN"], GitHubRepo: raw["INCIDENTBOT_GITHUB_REPO"], GitHubAPIURL: raw["INCIDENTBOT_GITHUB_API_URL"],
		JiraURL: raw["JIRA_URL"], JiraEmail: raw["JIRA_EMAIL"], JiraToken: raw["JIRA_API_TOKEN"],
		JiraProject: raw["INCIDENTBOT_JIRA_PROJECT"], JiraIssueType: raw["INCIDENTBOT_JIRA_ISSUE_TYPE"],
		UserMapFile: raw["INCIDENTBOT_USER_MAP"],
	}
	var errs []error
	d, err := time.ParseDuration(raw["INCIDENTBOT_TRACKER_POLL"])
	if err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_TRACKER_POLL=%q is not a positive Go duration like 2m", raw["INCIDENTBOT_TRACKER_POLL"]))
	}
	c.TrackerPoll = d
	gh := c.GitHubToken != "" || c.GitHubRepo != ""
	jr := c.JiraURL != "" || c.JiraEmail != "" || c.JiraToken != "" || c.JiraProject != ""
	switch {
	case gh && jr:
		errs = append(errs, errors.New("both GitHub (GITHUB_TOKEN, INCIDENTBOT_GITHUB_REPO) and Jira (JIRA_URL…) are configured: action items go to one tracker, configure only one"))
	case gh && (c.GitHubToken == "" || c.GitHubRepo == ""):
		errs = append(errs, errors.New("GitHub Issues needs both GITHUB_TOKEN and INCIDENTBOT_GITHUB_REPO (owner/name)"))
	case gh:
		if _, err := github.New(github.Config{Token: c.GitHubToken, Repo: c.GitHubRepo, APIURL: c.GitHubAPIURL}, nil); err != nil {
			errs = append(errs, err)
		}
	case jr && (c.JiraURL == "" || c.JiraEmail == "" || c.JiraToken == "" || c.JiraProject == ""):
		errs = append(errs, errors.New("Jira needs JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN and INCIDENTBOT_JIRA_PROJECT"))
	case jr:
		if _, err := jira.New(jira.Config{URL: c.JiraURL, Email: c.JiraEmail, Token: c.JiraToken, Project: c.JiraProject}, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if c.UserMapFile != "" {
		m, err := github.LoadUserMap(c.UserMapFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("INCIDENTBOT_USER_MAP: %w", err))
		}
		c.UserMap = m
	}
	return c, errors.Join(errs...)
}

// secrets are the tracker tokens, for log redaction.
func (c *TrackerConfig) secrets() []string { return []string{c.GitHubToken, c.JiraToken} }

// tracker returns the configured tracker's adapter, or nil when none is
// configured (parseTracker has checked the configuration).
func (m *Main) tracker(metrics *ops.Metrics, timeout time.Duration) commands.Tracker {
	c := m.Config.Tracker
	now := m.Now
	if now == nil {
		now = time.Now
	}
	switch {
	case c.GitHubToken != "" && c.GitHubRepo != "":
		gc, err := github.New(github.Config{Token: c.GitHubToken, Repo: c.GitHubRepo, APIURL: c.GitHubAPIURL, UserMap: c.UserMap, Timeout: timeout},
			&http.Client{Timeout: timeout, Transport: metrics.Transport("github", nil)})
		if err == nil {
			return gc
		}
	case c.JiraURL != "":
		jc, err := jira.New(jira.Config{URL: c.JiraURL, Email: c.JiraEmail, Token: c.JiraToken, Project: c.JiraProject, IssueType: c.JiraIssueType, Timeout: timeout, Now: now},
			&http.Client{Timeout: timeout, Transport: metrics.Transport("jira", nil)})
		if err == nil {
			return jc
		}
	}
	return nil
}

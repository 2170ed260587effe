package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/incidentbot/incidentbot"
)

// Client asks a running serve over its socket.
type Client struct {
	client *http.Client
}

// Dial connects to the serve answering on the socket at path. It fails when
// none answers there (no socket, or a leftover one from a crash).
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, fmt.Errorf("local API: dial %s: %w", path, err)
	}
	c.Close()
	return &Client{client: &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}, nil
}

// get returns the response to a GET of path, or the error it answered:
// an *incidentbot.Error whose code is read from the status.
func (c *Client) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://incidentbot"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the running incidentbot serve: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
			e.Message = "the running incidentbot serve answered " + resp.Status
		}
		return nil, &incidentbot.Error{Code: errorCode(resp.StatusCode), Message: e.Message, Op: "local API: GET " + path}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("local API: GET %s: %w", path, err)
	}
	return nil
}

// List returns the open incidents, or all of them, with the known users.
// It fails with the server's error or a connection's.
func (c *Client) List(ctx context.Context, all bool) (*Listing, error) {
	var l Listing
	path := "/v1/incidents"
	if all {
		path += "?all=1"
	}
	if err := c.getJSON(ctx, path, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Record returns incident id's record; it fails with ENotFound for an
// unknown incident, or as List does.
func (c *Client) Record(ctx context.Context, id int64) (*incidentbot.Record, error) {
	var rec incidentbot.Record
	if err := c.getJSON(ctx, fmt.Sprintf("/v1/incidents/%d/record", id), &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// Postmortem writes incident id's post-mortem draft to w; it fails as
// Record does, or with w's error.
func (c *Client) Postmortem(ctx context.Context, id int64, w io.Writer) error {
	resp, err := c.get(ctx, fmt.Sprintf("/v1/incidents/%d/postmortem", id))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Backup streams a consistent copy of the database from serve into w. It
// fails when the copy arrives short (serve failed half way), or as List.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	resp, err := c.get(ctx, "/v1/backup")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("backup through the running serve: %w", err)
	}
	return nil
}

// Close closes the idle connections.
func (c *Client) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

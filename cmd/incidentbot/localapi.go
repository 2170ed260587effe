package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/store"
	"github.com/incidentbot/incidentbot/templates"
)

// bbolt holds an exclusive lock on the database file while serve runs, so
// export and list cannot open it then. Instead serve answers them on a unix
// socket beside the database (<db>.sock, mode 0600): each request is one
// bbolt read transaction, which never blocks serve's writers. When no serve
// answers there, export and list open the file read-only themselves.

// socketPath is the local API socket of a database file.
func socketPath(db string) string { return db + ".sock" }

// listing is what list shows: incidents and the names of their people.
type listing struct {
	Incidents []*incidentbot.Incident     `json:"incidents"`
	Users     map[string]incidentbot.User `json:"users"`
}

// reader is the read side of a database, local or through serve.
type reader interface {
	list(ctx context.Context, all bool) (*listing, error)
	postmortem(ctx context.Context, id int64, w io.Writer) error
	record(ctx context.Context, id int64) (*incidentbot.Record, error)
	Close() error
}

// localReader reads the database file directly.
type localReader struct {
	db     *store.DB
	drafts templates.Drafts
}

func (r *localReader) list(ctx context.Context, all bool) (*listing, error) {
	incs, err := r.db.Incidents(ctx, !all)
	if err != nil {
		return nil, err
	}
	users, err := r.db.Users(ctx)
	if err != nil {
		return nil, err
	}
	if incs == nil {
		incs = []*incidentbot.Incident{}
	}
	return &listing{Incidents: incs, Users: users}, nil
}

func (r *localReader) postmortem(ctx context.Context, id int64, w io.Writer) error {
	return r.drafts.Render(ctx, id, w)
}

func (r *localReader) record(ctx context.Context, id int64) (*incidentbot.Record, error) {
	return templates.LoadRecord(ctx, r.db, id)
}

func (r *localReader) Close() error { return nil }

// serveLocalAPI answers export and list on the database's socket until ctx
// ends. It is called with the database open, so no other serve owns the
// socket and a leftover file can be removed.
func serveLocalAPI(ctx context.Context, path string, r *localReader, log logrus.FieldLogger) (func(), error) {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("local API: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("local API: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/incidents", func(w http.ResponseWriter, req *http.Request) {
		l, err := r.list(req.Context(), req.URL.Query().Get("all") == "1")
		writeJSON(w, l, err)
	})
	mux.HandleFunc("GET /v1/incidents/{id}/record", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
		if err != nil {
			writeJSON(w, nil, incidentbot.Errorf(incidentbot.EInvalid, "bad incident id"))
			return
		}
		rec, err := r.record(req.Context(), id)
		writeJSON(w, rec, err)
	})
	mux.HandleFunc("GET /v1/incidents/{id}/postmortem", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
		if err != nil {
			writeJSON(w, nil, incidentbot.Errorf(incidentbot.EInvalid, "bad incident id"))
			return
		}
		var buf strings.Builder
		if err := r.postmortem(req.Context(), id, &buf); err != nil {
			writeJSON(w, nil, err)
			return
		}
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		io.WriteString(w, buf.String())
	})
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := r.db.Backup(w); err != nil {
			log.WithError(err).Warn("backup through the local API failed")
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Warn("local API stopped")
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = os.Remove(path)
	}, nil
}

// apiError is the body of a failed local API request.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := http.StatusInternalServerError
		switch incidentbot.ErrorCode(err) {
		case incidentbot.ENotFound:
			status = http.StatusNotFound
		case incidentbot.EInvalid:
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(apiError{incidentbot.ErrorCode(err), incidentbot.ErrorMessage(err)})
		return
	}
	json.NewEncoder(w).Encode(v)
}

// remoteReader asks a running serve over its socket.
type remoteReader struct {
	client *http.Client
}

func dialLocalAPI(path string) (*remoteReader, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, err
	}
	c.Close()
	return &remoteReader{client: &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}, nil
}

func (r *remoteReader) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://incidentbot"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the running incidentbot serve: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
			e = apiError{incidentbot.EInternal, resp.Status}
		}
		return nil, &incidentbot.Error{Code: e.Code, Message: e.Message}
	}
	return resp, nil
}

func (r *remoteReader) getJSON(ctx context.Context, path string, v any) error {
	resp, err := r.get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (r *remoteReader) list(ctx context.Context, all bool) (*listing, error) {
	var l listing
	path := "/v1/incidents"
	if all {
		path += "?all=1"
	}
	return &l, r.getJSON(ctx, path, &l)
}

func (r *remoteReader) record(ctx context.Context, id int64) (*incidentbot.Record, error) {
	var rec incidentbot.Record
	return &rec, r.getJSON(ctx, fmt.Sprintf("/v1/incidents/%d/record", id), &rec)
}

func (r *remoteReader) postmortem(ctx context.Context, id int64, w io.Writer) error {
	resp, err := r.get(ctx, fmt.Sprintf("/v1/incidents/%d/postmortem", id))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// backup streams a consistent copy of the database from serve into w.
func (r *remoteReader) backup(ctx context.Context, w io.Writer) error {
	resp, err := r.get(ctx, "/v1/backup")
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

func (r *remoteReader) Close() error {
	r.client.CloseIdleConnections()
	return nil
}

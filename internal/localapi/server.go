package localapi

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
)

// apiError is the body of a failed request.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Server answers the local API on a unix socket.
type Server struct {
	path string
	srv  *http.Server
}

// Listen serves r on the unix socket at path until Close. It must be called
// with the database open (so that no other serve owns the socket and a
// leftover file from a crash can be removed). It fails when the socket
// cannot be made or restricted to its owner.
func Listen(path string, r Reader, log logrus.FieldLogger) (*Server, error) {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("local API: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("local API: %w", err)
	}
	s := &Server{path: path, srv: &http.Server{Handler: handler(r, log), ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Warn("local API stopped")
		}
	}()
	return s, nil
}

// Close stops the server, giving requests in progress a second, and
// removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	_ = os.Remove(s.path)
	return err
}

func handler(r Reader, log logrus.FieldLogger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/incidents", func(w http.ResponseWriter, req *http.Request) {
		l, err := r.List(req.Context(), req.URL.Query().Get("all") == "1")
		writeJSON(w, l, err)
	})
	mux.HandleFunc("GET /v1/incidents/{id}/record", func(w http.ResponseWriter, req *http.Request) {
		id, err := pathID(req)
		if err != nil {
			writeJSON(w, nil, err)
			return
		}
		rec, err := r.Record(req.Context(), id)
		writeJSON(w, rec, err)
	})
	mux.HandleFunc("GET /v1/incidents/{id}/postmortem", func(w http.ResponseWriter, req *http.Request) {
		id, err := pathID(req)
		if err != nil {
			writeJSON(w, nil, err)
			return
		}
		var buf strings.Builder
		if err := r.Postmortem(req.Context(), id, &buf); err != nil {
			writeJSON(w, nil, err)
			return
		}
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		io.WriteString(w, buf.String())
	})
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		// The copy streams, so a failure half way can only cut it short;
		// the client notices the missing bytes.
		if err := r.Backup(req.Context(), w); err != nil {
			log.WithError(err).Warn("backup through the local API failed")
		}
	})
	return mux
}

func pathID(req *http.Request) (int64, error) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
	if err != nil {
		return 0, incidentbot.Errorf(incidentbot.EInvalid, "bad incident id %q", req.PathValue("id"))
	}
	return id, nil
}

// writeJSON answers v, or err with the status of its code.
func writeJSON(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := incidentbot.ErrorCode(err)
		w.WriteHeader(httpStatus(code))
		json.NewEncoder(w).Encode(apiError{Code: code, Message: incidentbot.ErrorMessage(err)})
		return
	}
	json.NewEncoder(w).Encode(v)
}

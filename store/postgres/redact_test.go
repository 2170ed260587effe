package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://bot:s3cr3t@db.internal:5432/incidents?sslmode=require", "postgres://bot:xxxxx@db.internal:5432/incidents?sslmode=require"},
		{"postgresql://bot@db/incidents", "postgresql://bot@db/incidents"},
		{"postgres://db/incidents?user=bot&password=s3cr3t", "postgres://db/incidents?password=xxxxx&user=bot"},
		{"postgres://bot:s3cr3t@db:notaport/incidents", "postgres://bot:xxxxx@db:notaport/incidents"},
		{"host=db user=bot password=s3cr3t dbname=incidents", "host=db user=bot password=xxxxx dbname=incidents"},
		{"host=db password='s3 cr3t' dbname=incidents", "host=db password=xxxxx dbname=incidents"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestOpenErrorsHideThePassword opens unreachable and malformed URLs with
// a password: the errors say what is wrong without it. It needs no
// PostgreSQL.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const secret = "Sup3r-s3cret%21pw" // URL-escaped: "Sup3r-s3cret!pw"
	tests := []struct {
		name, url, code string
	}{
		// Port 1 on loopback: connection refused at once.
		{"unreachable", "postgres://incidentbot:" + secret + "@127.0.0.1:1/incidents?sslmode=disable&connect_timeout=2", incidentbot.EUnavailable},
		{"no such host", "postgres://incidentbot:" + secret + "@no-such-host.invalid:5432/incidents?connect_timeout=2", incidentbot.EUnavailable},
		{"malformed", "postgres://incidentbot:" + secret + "@127.0.0.1:notaport/incidents", incidentbot.EInvalid},
		{"key=value", "host=127.0.0.1 port=1 user=incidentbot password=" + secret + " connect_timeout=2 sslmode=disable", incidentbot.EUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			db, err := Open(ctx, tt.url, Options{Timeout: 3 * time.Second})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if incidentbot.ErrorCode(err) != tt.code {
				t.Errorf("code %q, want %q: %v", incidentbot.ErrorCode(err), tt.code, err)
			}
			for _, leak := range []string{secret, "Sup3r-s3cret!pw", "s3cret"} {
				for _, text := range []string{err.Error(), incidentbot.ErrorMessage(err)} {
					if strings.Contains(text, leak) {
						t.Errorf("the error shows the password: %s", text)
					}
				}
			}
			t.Logf("%v", err)
		})
	}
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sirupsen/logrus"
)

// newLogger returns a logrus logger writing to w with the configured level
// and format, which replaces any configured secret in messages and fields
// with "[redacted]": tokens never reach the logs, even inside a library's
// error text.
func newLogger(w io.Writer, level, format string, secrets []string) (*logrus.Logger, error) {
	l := logrus.New()
	l.Out = w
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("INCIDENTBOT_LOG_LEVEL=%q: use debug, info, warn or error", level)
	}
	l.Level = lvl
	if format == "json" {
		l.Formatter = &logrus.JSONFormatter{}
	}
	if len(secrets) > 0 {
		l.AddHook(redactHook{secrets: secrets})
	}
	return l, nil
}

type redactHook struct{ secrets []string }

func (h redactHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h redactHook) redact(s string) string {
	for _, sec := range h.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}

func (h redactHook) Fire(e *logrus.Entry) error {
	e.Message = h.redact(e.Message)
	for k, v := range e.Data {
		switch x := v.(type) {
		case string:
			e.Data[k] = h.redact(x)
		case error:
			e.Data[k] = h.redact(x.Error())
		case fmt.Stringer:
			e.Data[k] = h.redact(x.String())
		}
	}
	return nil
}

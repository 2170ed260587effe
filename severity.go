package incidentbot

import (
	"fmt"
	"strings"
)

// Severity is an incident's severity, Sev1 the worst. The zero value is not a
// valid severity.
type Severity int

// Severities, from worst to least.
const (
	Sev1 Severity = 1
	Sev2 Severity = 2
	Sev3 Severity = 3
	Sev4 Severity = 4
)

// DefaultSeverity is the severity of an incident opened without one.
const DefaultSeverity = Sev3

// ParseSeverity accepts sev1..sev4 in any case. It fails with EInvalid.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sev1":
		return Sev1, nil
	case "sev2":
		return Sev2, nil
	case "sev3":
		return Sev3, nil
	case "sev4":
		return Sev4, nil
	}
	return 0, Errorf(EInvalid, "%q is not a severity: use sev1, sev2, sev3 or sev4 (sev1 is the worst)", s)
}

// Valid reports whether s is one of Sev1..Sev4.
func (s Severity) Valid() bool { return s >= Sev1 && s <= Sev4 }

// String returns "sev1".."sev4".
func (s Severity) String() string { return fmt.Sprintf("sev%d", int(s)) }

// AtLeast reports whether s is as bad as t or worse (sev1 is worse than sev2).
func (s Severity) AtLeast(t Severity) bool { return s.Valid() && s <= t }

// MarshalText encodes the severity as "sevN".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "sevN"; it fails on anything else.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

package config

import (
	"fmt"
	"log/slog"
)

// Secret is a string that is never printed: fmt verbs, slog and text or JSON
// encoding show "[redacted]" (or "" when empty). Convert it with string() to
// use the value.
type Secret string

const redacted = "[redacted]"

func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string { return s.shown() }

// GoString makes %#v redact too.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.shown()) }

// Format redacts the secret for every fmt verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		fmt.Fprintf(f, "%q", s.shown())
		return
	}
	fmt.Fprint(f, s.shown())
}

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// MarshalText redacts the secret in encoders such as encoding/json.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

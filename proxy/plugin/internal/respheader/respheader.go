// Package respheader holds what the plugins that set response headers from their conf
// (response-rewrite, echo, fault-injection) check alike: a header name the response can carry,
// and a header value given as a JSON string or number.
package respheader

import (
	"bytes"
	"encoding/json"
)

// ValidName reports a header name the response can carry: not empty, no ":" (APISIX's pattern
// "^[^:]+$"), and no space or control character, which would split the head.
func ValidName(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 127 || b == ':' {
			return false
		}
	}
	return s != ""
}

// Scalar is a JSON string's value, or a number's text as Lua's tostring gives it for the
// integers and decimals confs hold; ok is false for any other JSON type.
func Scalar(v json.RawMessage) (s string, ok bool) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0:
		return "", false
	case v[0] == '"':
		err := json.Unmarshal(v, &s)
		return s, err == nil
	case v[0] == '-' || ('0' <= v[0] && v[0] <= '9'):
		return string(v), true
	}
	return "", false
}

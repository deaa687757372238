package standalone

import (
	"fmt"
	"strings"
)

// expand replaces ${{VAR}} and ${{VAR:=default}} in s with lookupEnv's values. A reference is
// "${{", optional spaces, a name of letters, digits, '_' and '.', optional spaces, optionally
// ":=" and a default (surrounding spaces dropped), then "}}". A set variable wins, even when
// empty; an unset one without a default is an error. used reports whether anything was
// replaced.
func expand(s string, lookupEnv func(string) (string, bool)) (out string, used bool, err error) {
	if !strings.Contains(s, "${{") {
		return s, false, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), used, nil
		}
		name, def, hasDef, n, ok := parseRef(s[i+3:])
		if !ok {
			b.WriteString(s[:i+3])
			s = s[i+3:]
			continue
		}
		b.WriteString(s[:i])
		s = s[i+3+n:]
		used = true
		if v, ok := lookupEnv(name); ok {
			b.WriteString(v)
			continue
		}
		if !hasDef {
			return "", false, fmt.Errorf("can't find environment variable %q (use ${{%s:=default}} for a default)", name, name)
		}
		b.WriteString(def)
	}
}

// parseRef parses what follows "${{" up to and including "}}", returning the name, the default
// and the length consumed.
func parseRef(s string) (name, def string, hasDef bool, n int, ok bool) {
	end := strings.Index(s, "}}")
	if end < 0 {
		return "", "", false, 0, false
	}
	body := s[:end]
	if strings.Contains(body, "\n") {
		return "", "", false, 0, false
	}
	name, def, hasDef = strings.Cut(body, ":=")
	name = strings.TrimSpace(name)
	if name == "" {
		return "", "", false, 0, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c == '.' && i > 0 || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", "", false, 0, false
		}
	}
	return name, strings.TrimSpace(def), hasDef, end + 2, true
}

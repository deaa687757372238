package config

import (
	"strconv"
	"strings"
)

// Error is one problem in a configuration: a wrong type, an impossible value,
// an undefined environment variable or a YAML syntax error. Parse and Load
// return one *Error or several joined with errors.Join; use errors.As to get
// at the first one.
type Error struct {
	// Key is the dotted key path, with 0-based list indices, such as
	// "deployment.etcd.host[1]". It names the environment variable instead
	// when the value came from one (APISIX_DEPLOYMENT_ETCD_HOST[0]). It is
	// empty for problems with the document as a whole.
	Key string
	// Line is the 1-based line in the file, or 0 when unknown.
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error formats the error as "config: <key> (line <n>): <msg>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	switch {
	case e.Key != "" && e.Line > 0:
		b.WriteString(e.Key)
		b.WriteString(" (line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString("): ")
	case e.Key != "":
		b.WriteString(e.Key)
		b.WriteString(": ")
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

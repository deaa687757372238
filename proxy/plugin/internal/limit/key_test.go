package limit

import (
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	for _, tt := range []struct{ name, tpl, want, err string }{
		{"two vars", "$remote_addr $http_x", "[remote_addr][ ][http_x]", ""},
		{"braces and default", "${ http_x ?? none }-x", "[http_x??none][-x]", ""},
		{"escaped dollar", `\$remote_addr`, `[\$remote_addr]`, ""},
		{"lone dollar", "a$ b", "[a$ b]", ""},
		{"dotted name", "$arg_a.b!", "[arg_a.b][!]", ""},
		{"no variable", "constant", "[constant]", ""},
		{"unsupported", "$request_body", "", `variable "request_body" is not supported`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			segs, err := parseTemplate(tt.tpl)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			var b strings.Builder
			for _, s := range segs {
				b.WriteByte('[')
				if s.v != nil {
					b.WriteString(s.v.Name)
					if s.hasDef {
						b.WriteString("??" + s.def)
					}
				} else {
					b.WriteString(s.lit)
				}
				b.WriteByte(']')
			}
			if b.String() != tt.want {
				t.Fatalf("%s, want %s", b.String(), tt.want)
			}
		})
	}
}

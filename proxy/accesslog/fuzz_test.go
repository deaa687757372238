package accesslog

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzFormat feeds arbitrary request bytes to both formats: a JSON line must be valid JSON that
// decodes back to the input (when the input is valid UTF-8), and a combined line must be one line
// of printable ASCII with exactly the six quotes of the format.
func FuzzFormat(f *testing.F) {
	f.Add([]byte("/a?b=c"), []byte("curl/8.0"), "r1")
	f.Add([]byte("/\"quoted\"\\path"), []byte("ua\x00\x1f\x7f"), "ü")
	f.Add([]byte("/\xff\xfe"), []byte("\xed\xa0\x80"), "\xe2\x82")
	f.Add([]byte(""), []byte(""), "")
	l := &Logger{}
	if err := l.setFields(append(DefaultFields(), "host", "referer", "user_agent", "remote_user", "protocol")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, uri, ua []byte, route string) {
		r := fullRecord()
		r.URI, r.UserAgent, r.RouteID, r.Method = uri, ua, route, ua

		line := appendJSON(nil, &r, r.Time, l.fields, l.keys)
		if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("not one line: %q", line)
		}
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		check := func(field string, in []byte) {
			v := got[field]
			switch {
			case len(in) == 0:
				if v != nil {
					t.Errorf("%s: %v for an empty value, want null", field, v)
				}
			case utf8.Valid(in):
				if v != string(in) {
					t.Errorf("%s: %q, want %q", field, v, in)
				}
			}
		}
		check("uri", uri)
		check("user_agent", ua)
		check("route_id", []byte(route))

		line = appendCombined(nil, &r, r.Time)
		body := line[:len(line)-1]
		if line[len(line)-1] != '\n' {
			t.Fatalf("no newline: %q", line)
		}
		for _, c := range body {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("unescaped byte %#x in %q", c, line)
			}
		}
		if n := bytes.Count(body, []byte(`"`)); n != 6 {
			t.Fatalf("%d quotes in %q, want 6", n, line)
		}
	})
}

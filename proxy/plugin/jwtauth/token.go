package jwtauth

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unsafe"

	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/ngxbase64"
)

// token is a JWS in compact form, parsed as lua-resty-jwt's load_jwt does: three dot-separated
// parts, the first two base64url-decoded to JSON objects. Its slices point into the request's
// bytes and the Request's Scratch buffer: it lives for one Rewrite call.
type token struct {
	signingInput []byte // "<header>.<payload>" as sent: what the signature covers
	rawSig       []byte // the third part, still encoded
	header       []byte // decoded JSON object
	payload      []byte // decoded JSON object or array
}

// parseToken splits and decodes s into buf (reused; its capacity is grown once so that the
// decoded parts never move, with room left for the signature). ok is false for anything APISIX answers "JWT token invalid": not
// three parts, a part that is not base64, a header or payload that is not JSON, a header that
// is not an object.
func parseToken(s []byte, buf *[]byte) (t token, ok bool) {
	i := bytes.IndexByte(s, '.')
	if i < 0 {
		return t, false
	}
	j := bytes.IndexByte(s[i+1:], '.')
	if j < 0 {
		return t, false
	}
	j += i + 1
	if bytes.IndexByte(s[j+1:], '.') >= 0 {
		return t, false
	}
	t.signingInput, t.rawSig = s[:j], s[j+1:]
	need := len(s)*3/4 + 4 // header, payload and, later, the signature

	b := *buf
	if cap(b) < need {
		b = make([]byte, 0, need+need/2)
	}
	b = b[:0]
	var good bool
	if b, good = ngxbase64.Decode(b, s[:i], ngxbase64.Mixed); !good {
		*buf = b
		return t, false
	}
	n := len(b)
	b, good = ngxbase64.Decode(b, s[i+1:j], ngxbase64.Mixed)
	*buf = b
	if !good {
		return t, false
	}
	t.header, t.payload = b[:n:n], b[n:]
	if !json.Valid(t.header) || !json.Valid(t.payload) || firstByte(t.header) != '{' {
		return t, false
	}
	if c := firstByte(t.payload); c != '{' && c != '[' {
		return t, false
	}
	return t, true
}

func firstByte(b []byte) byte {
	b = skipSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// member returns the raw JSON value of the member name of obj, a valid JSON object (the last
// one when the name repeats, as cjson decodes), or nil. A non-object obj has no members.
func member(obj []byte, name string) []byte {
	obj = skipSpace(obj)
	if len(obj) == 0 || obj[0] != '{' {
		return nil
	}
	var found []byte
	p := skipSpace(obj[1:])
	for len(p) > 0 && p[0] == '"' {
		k := stringEnd(p)
		key := p[:k]
		p = skipSpace(p[k:])
		p = skipSpace(p[1:]) // ':'
		v := valueEnd(p)
		if stringIs(key, name) {
			found = p[:v]
		}
		p = skipSpace(p[v:])
		if len(p) > 0 && p[0] == ',' {
			p = skipSpace(p[1:])
		}
	}
	return found
}

// stringEnd returns the length of the JSON string at the start of p, quotes included.
func stringEnd(p []byte) int {
	for i := 1; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(p)
}

// valueEnd returns the length of the JSON value at the start of p (valid JSON).
func valueEnd(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	switch p[0] {
	case '"':
		return stringEnd(p)
	case '{', '[':
		depth := 0
		for i := 0; i < len(p); i++ {
			switch p[i] {
			case '"':
				i += stringEnd(p[i:]) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(p)
	}
	i := 0
	for i < len(p) && p[i] != ',' && p[i] != '}' && p[i] != ']' && !isSpace(p[i]) {
		i++
	}
	return i
}

// stringIs reports whether the JSON string raw (quotes included) is s.
func stringIs(raw []byte, s string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return len(raw) == len(s)+2 && string(raw[1:len(raw)-1]) == s
	}
	v, ok := unquote(raw)
	return ok && v == s
}

// stringValue returns the bytes of the JSON string raw: a slice of raw when it has no escapes
// (no allocation), decoded otherwise. ok is false when raw is not a string.
func stringValue(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	v, ok := unquote(raw)
	return []byte(v), ok
}

func unquote(raw []byte) (string, bool) {
	var v string
	return v, json.Unmarshal(raw, &v) == nil
}

// number returns the JSON number raw as a float64 (±Inf beyond its range, as strtod); ok is
// false when raw is not a number.
func number(raw []byte) (float64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return f, true
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

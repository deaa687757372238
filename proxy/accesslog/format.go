package accesslog

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"time"
)

// Formats, for Options.Format.
const (
	FormatCombined = "combined"
	FormatJSON     = "json"
)

// field is one JSON field.
type field uint8

const (
	fTime field = iota
	fRemoteAddr
	fMethod
	fURI
	fStatus
	fBytes
	fRequestTime
	fUpstreamAddr
	fUpstreamStatus
	fUpstreamTime
	fRouteID
	fRequestID
	fHost
	fReferer
	fUserAgent
	fRemoteUser
	fProtocol
)

func fieldByName(name string) (field, bool) {
	switch name {
	case "time":
		return fTime, true
	case "remote_addr":
		return fRemoteAddr, true
	case "method":
		return fMethod, true
	case "uri":
		return fURI, true
	case "status":
		return fStatus, true
	case "bytes":
		return fBytes, true
	case "request_time":
		return fRequestTime, true
	case "upstream_addr":
		return fUpstreamAddr, true
	case "upstream_status":
		return fUpstreamStatus, true
	case "upstream_response_time":
		return fUpstreamTime, true
	case "route_id":
		return fRouteID, true
	case "request_id":
		return fRequestID, true
	case "host":
		return fHost, true
	case "referer":
		return fReferer, true
	case "user_agent":
		return fUserAgent, true
	case "remote_user":
		return fRemoteUser, true
	case "protocol":
		return fProtocol, true
	}
	return 0, false
}

// DefaultFields are the JSON fields when Options.Fields is empty.
func DefaultFields() []string {
	return []string{"time", "remote_addr", "method", "uri", "status", "bytes", "request_time",
		"upstream_addr", "upstream_status", "upstream_response_time", "route_id", "request_id"}
}

const months = "JanFebMarAprMayJunJulAugSepOctNovDec"

// appendTimeLocal appends t as nginx's $time_local, "02/Jan/2006:15:04:05 -0700" (time's
// AppendFormat would cost twice as much).
func appendTimeLocal(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	_, off := t.Zone()
	dst = append2(dst, day)
	dst = append(dst, '/')
	dst = append(dst, months[3*(month-1):3*month]...)
	dst = append(dst, '/')
	dst = append4(dst, year)
	dst = append(dst, ':')
	dst = appendClock(dst, hour, minute, sec)
	dst = append(dst, ' ')
	return appendZone(dst, off, false)
}

// appendTimeISO appends t as RFC 3339 with milliseconds, "2006-01-02T15:04:05.000Z07:00".
func appendTimeISO(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	_, off := t.Zone()
	dst = append4(dst, year)
	dst = append(dst, '-')
	dst = append2(dst, int(month))
	dst = append(dst, '-')
	dst = append2(dst, day)
	dst = append(dst, 'T')
	dst = appendClock(dst, hour, minute, sec)
	ms := t.Nanosecond() / 1e6
	dst = append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	if off == 0 {
		return append(dst, 'Z')
	}
	return appendZone(dst, off, true)
}

func appendClock(dst []byte, hour, minute, sec int) []byte {
	dst = append2(dst, hour)
	dst = append(dst, ':')
	dst = append2(dst, minute)
	dst = append(dst, ':')
	return append2(dst, sec)
}

// appendZone appends a zone offset in seconds as -0700, or -07:00 with colon.
func appendZone(dst []byte, off int, colon bool) []byte {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	dst = append(dst, sign)
	dst = append2(dst, off/3600)
	if colon {
		dst = append(dst, ':')
	}
	return append2(dst, off/60%60)
}

func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10%10), byte('0'+n%10))
}

func append4(dst []byte, n int) []byte {
	if n < 0 || n > 9999 {
		return strconv.AppendInt(dst, int64(n), 10)
	}
	return append(dst, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// appendCombined appends r as a line of nginx's combined format.
func appendCombined(dst []byte, r *Record, t time.Time) []byte {
	if r.RemoteAddr.IsValid() {
		dst = r.RemoteAddr.AppendTo(dst)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, " - "...)
	var ub [userBufSize]byte
	dst = appendNginx(dst, basicUser(r.Authorization, &ub))
	dst = append(dst, " ["...)
	dst = appendTimeLocal(dst, t)
	dst = append(dst, "] \""...)
	if len(r.Method) == 0 && len(r.URI) == 0 {
		dst = append(dst, '-')
	} else {
		dst = appendNginxRaw(dst, r.Method)
		dst = append(dst, ' ')
		dst = appendNginxRaw(dst, r.URI)
		if len(r.Protocol) > 0 {
			dst = append(dst, ' ')
			dst = appendNginxRaw(dst, r.Protocol)
		}
	}
	dst = append(dst, "\" "...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, max(r.BodyBytes, 0), 10)
	dst = append(dst, " \""...)
	dst = appendNginx(dst, r.Referer)
	dst = append(dst, "\" \""...)
	dst = appendNginx(dst, r.UserAgent)
	return append(dst, "\"\n"...)
}

// appendJSON appends r as a JSON object with the given fields; keys[i] is `"name":`, preceded by a
// comma after the first.
func appendJSON(dst []byte, r *Record, t time.Time, fields []field, keys []string) []byte {
	dst = append(dst, '{')
	for i, f := range fields {
		dst = append(dst, keys[i]...)
		switch f {
		case fTime:
			dst = append(dst, '"')
			dst = appendTimeISO(dst, t)
			dst = append(dst, '"')
		case fRemoteAddr:
			if r.RemoteAddr.IsValid() {
				dst = append(dst, '"')
				dst = r.RemoteAddr.AppendTo(dst)
				dst = append(dst, '"')
			} else {
				dst = append(dst, "null"...)
			}
		case fMethod:
			dst = appendJSONString(dst, r.Method)
		case fURI:
			dst = appendJSONString(dst, r.URI)
		case fStatus:
			dst = strconv.AppendInt(dst, int64(r.Status), 10)
		case fBytes:
			dst = strconv.AppendInt(dst, max(r.BodyBytes, 0), 10)
		case fRequestTime:
			dst = appendSeconds(dst, r.RequestTime)
		case fUpstreamAddr:
			dst = appendJSONString(dst, r.UpstreamAddr)
		case fUpstreamStatus:
			if r.UpstreamStatus > 0 {
				dst = strconv.AppendInt(dst, int64(r.UpstreamStatus), 10)
			} else {
				dst = append(dst, "null"...)
			}
		case fUpstreamTime:
			if len(r.UpstreamAddr) > 0 {
				dst = appendSeconds(dst, r.UpstreamTime)
			} else {
				dst = append(dst, "null"...)
			}
		case fRouteID:
			dst = appendJSONString(dst, r.RouteID)
		case fRequestID:
			dst = appendJSONString(dst, r.RequestID)
		case fHost:
			dst = appendJSONString(dst, r.Host)
		case fReferer:
			dst = appendJSONString(dst, r.Referer)
		case fUserAgent:
			dst = appendJSONString(dst, r.UserAgent)
		case fRemoteUser:
			var ub [userBufSize]byte
			dst = appendJSONString(dst, basicUser(r.Authorization, &ub))
		case fProtocol:
			dst = appendJSONString(dst, r.Protocol)
		}
	}
	return append(dst, "}\n"...)
}

// appendSeconds appends d in seconds with millisecond resolution, as nginx prints times ("0.004").
func appendSeconds(dst []byte, d time.Duration) []byte {
	msec := max(d.Milliseconds(), 0)
	dst = strconv.AppendInt(dst, msec/1000, 10)
	frac := msec % 1000
	return append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

const userBufSize = 192

// basicUser returns the user of a Basic Authorization header (nginx's $remote_user), decoded into
// buf, or nil.
func basicUser(auth []byte, buf *[userBufSize]byte) []byte {
	const scheme = "basic "
	if len(auth) <= len(scheme) || !bytes.EqualFold(auth[:len(scheme)], []byte(scheme)) {
		return nil
	}
	enc := bytes.TrimSpace(auth[len(scheme):])
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return nil
	}
	n, err := base64.StdEncoding.Decode(buf[:], enc)
	if err != nil {
		return nil
	}
	user, _, ok := bytes.Cut(buf[:n], []byte{':'})
	if !ok {
		return nil
	}
	return user
}

const hexDigits = "0123456789ABCDEF"

// appendNginx appends s with nginx's default log escaping, or "-" when s is empty.
func appendNginx(dst, s []byte) []byte {
	if len(s) == 0 {
		return append(dst, '-')
	}
	return appendNginxRaw(dst, s)
}

// appendNginxRaw escapes ", \ and bytes outside 0x20–0x7e as \xHH, as nginx's
// ngx_http_log_escape does.
func appendNginxRaw(dst, s []byte) []byte {
	start := 0
	for i, c := range s {
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendJSONString appends s as a JSON string, or null when it is empty. Invalid UTF-8 becomes
// U+FFFD, so that the line is always valid JSON.
func appendJSONString[S ~string | ~[]byte](dst []byte, s S) []byte {
	if len(s) == 0 {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
			i++
			continue
		}
		if c >= 0x80 {
			if n := runeLen(s, i); n > 0 {
				i += n
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// runeLen returns the length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0
// when it is not one (as unicode/utf8 decides: no overlongs, no surrogates, nothing past U+10FFFF).
func runeLen[S ~string | ~[]byte](s S, i int) int {
	c := s[i]
	var n int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		n = 2
	case c == 0xe0:
		n, lo = 3, 0xa0
	case c == 0xed:
		n, hi = 3, 0x9f
	case c >= 0xe1 && c <= 0xef:
		n = 3
	case c == 0xf0:
		n, lo = 4, 0x90
	case c == 0xf4:
		n, hi = 4, 0x8f
	case c >= 0xf1 && c <= 0xf3:
		n = 4
	default:
		return 0
	}
	if i+n > len(s) {
		return 0
	}
	if b := s[i+1]; b < lo || b > hi {
		return 0
	}
	for j := 2; j < n; j++ {
		if b := s[i+j]; b < 0x80 || b > 0xbf {
			return 0
		}
	}
	return n
}

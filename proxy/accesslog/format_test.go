package accesslog

import (
	"encoding/base64"
	"net/netip"
	"testing"
	"time"
)

var testTime = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("", 2*3600))

func fullRecord() Record {
	return Record{
		Time:           testTime,
		RemoteAddr:     netip.MustParseAddr("192.0.2.7"),
		Method:         []byte("GET"),
		URI:            []byte("/a/b?x=1"),
		Protocol:       []byte("HTTP/1.1"),
		Host:           []byte("api.example.com"),
		Referer:        []byte("https://ref.example/"),
		UserAgent:      []byte("curl/8.0"),
		Authorization:  []byte("Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))),
		RequestID:      []byte("req-1"),
		Status:         200,
		BodyBytes:      1234,
		RequestTime:    15*time.Millisecond + 700*time.Microsecond,
		UpstreamAddr:   []byte("10.0.0.1:8080"),
		UpstreamStatus: 200,
		UpstreamTime:   12 * time.Millisecond,
		RouteID:        "r1",
	}
}

func TestAppendCombined(t *testing.T) {
	tests := []struct {
		name string
		rec  func(*Record)
		want string
	}{
		{"full", func(*Record) {},
			`192.0.2.7 - alice [04/Mar/2026:05:06:07 +0200] "GET /a/b?x=1 HTTP/1.1" 200 1234 "https://ref.example/" "curl/8.0"` + "\n"},
		{"absent values", func(r *Record) {
			*r = Record{Time: testTime, Method: []byte("HEAD"), URI: []byte("/"), Protocol: []byte("HTTP/1.0"), Status: 404}
		}, `- - - [04/Mar/2026:05:06:07 +0200] "HEAD / HTTP/1.0" 404 0 "-" "-"` + "\n"},
		{"no request line", func(r *Record) {
			*r = Record{Time: testTime, RemoteAddr: netip.MustParseAddr("::1"), Status: 400}
		}, `::1 - - [04/Mar/2026:05:06:07 +0200] "-" 400 0 "-" "-"` + "\n"},
		{"escaping", func(r *Record) {
			r.UserAgent = []byte("a\"b\\c\x01d\xffé")
			r.URI = []byte("/q\"")
			r.Authorization = nil
		}, `192.0.2.7 - - [04/Mar/2026:05:06:07 +0200] "GET /q\x22 HTTP/1.1" 200 1234 "https://ref.example/" "a\x22b\x5Cc\x01d\xFF\xC3\xA9"` + "\n"},
		{"authorization not basic", func(r *Record) { r.Authorization = []byte("Bearer abc") },
			`192.0.2.7 - - [04/Mar/2026:05:06:07 +0200] "GET /a/b?x=1 HTTP/1.1" 200 1234 "https://ref.example/" "curl/8.0"` + "\n"},
		{"basic without colon", func(r *Record) {
			r.Authorization = []byte("basic " + base64.StdEncoding.EncodeToString([]byte("bob")))
		}, `192.0.2.7 - - [04/Mar/2026:05:06:07 +0200] "GET /a/b?x=1 HTTP/1.1" 200 1234 "https://ref.example/" "curl/8.0"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fullRecord()
			tt.rec(&r)
			if got := string(appendCombined(nil, &r, r.Time)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAppendJSON(t *testing.T) {
	l := &Logger{}
	if err := l.setFields(nil); err != nil {
		t.Fatal(err)
	}
	all := &Logger{}
	if err := all.setFields([]string{"host", "referer", "user_agent", "remote_user", "protocol"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		l    *Logger
		rec  func(*Record)
		want string
	}{
		{"default fields", l, func(*Record) {},
			`{"time":"2026-03-04T05:06:07.890+02:00","remote_addr":"192.0.2.7","method":"GET","uri":"/a/b?x=1",` +
				`"status":200,"bytes":1234,"request_time":0.015,"upstream_addr":"10.0.0.1:8080","upstream_status":200,` +
				`"upstream_response_time":0.012,"route_id":"r1","request_id":"req-1"}` + "\n"},
		{"not proxied", l, func(r *Record) {
			*r = Record{Time: testTime, Method: []byte("GET"), URI: []byte("/x"), Status: 404, RequestTime: 2500 * time.Millisecond}
		}, `{"time":"2026-03-04T05:06:07.890+02:00","remote_addr":null,"method":"GET","uri":"/x",` +
			`"status":404,"bytes":0,"request_time":2.500,"upstream_addr":null,"upstream_status":null,` +
			`"upstream_response_time":null,"route_id":null,"request_id":null}` + "\n"},
		{"other fields", all, func(*Record) {},
			`{"host":"api.example.com","referer":"https://ref.example/","user_agent":"curl/8.0","remote_user":"alice","protocol":"HTTP/1.1"}` + "\n"},
		{"escaping", all, func(r *Record) {
			r.Host = []byte("a\"b\\c\n\r\t\x01é\xff")
			r.Referer = []byte("\xe2\x82")        // truncated sequence
			r.UserAgent = []byte("\xed\xa0\x80x") // surrogate
			r.Authorization = nil
		}, `{"host":"a\"b\\c\n\r\t\u0001é\ufffd","referer":"\ufffd\ufffd","user_agent":"\ufffd\ufffd\ufffdx","remote_user":null,"protocol":"HTTP/1.1"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fullRecord()
			tt.rec(&r)
			if got := string(appendJSON(nil, &r, r.Time, tt.l.fields, tt.l.keys)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestAppendSeconds(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"zero", 0, "0.000"},
		{"sub-millisecond", 999 * time.Microsecond, "0.000"},
		{"milliseconds", 7 * time.Millisecond, "0.007"},
		{"seconds", 12*time.Second + 345*time.Millisecond, "12.345"},
		{"negative", -time.Second, "0.000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendSeconds(nil, tt.d)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendTime(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
	}{
		{"utc", time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)},
		{"east", time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("", 5*3600+30*60))},
		{"west", time.Date(1999, 7, 8, 9, 10, 11, 0, time.FixedZone("", -(3*3600+45*60)))},
		{"local", time.Date(2026, 6, 15, 12, 0, 0, 123_000_000, time.Local)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := string(appendTimeLocal(nil, tt.t)), tt.t.Format("02/Jan/2006:15:04:05 -0700"); got != want {
				t.Errorf("time_local %q, want %q", got, want)
			}
			if got, want := string(appendTimeISO(nil, tt.t)), tt.t.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
				t.Errorf("iso %q, want %q", got, want)
			}
		})
	}
}

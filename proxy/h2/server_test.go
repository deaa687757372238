package h2

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestReadHead: a stream's request becomes the fasthttp head the proxy's HTTP/1.1 path reads,
// framing included; a head larger than MaxHeaderBytes is refused.
func TestReadHead(t *testing.T) {
	s := New(func(*fasthttp.RequestCtx) {}, Options{MaxHeaderBytes: 1024})
	tests := []struct {
		name    string
		r       *http.Request
		cl      int // fasthttp's ContentLength: -1 chunked, -2 none
		fields  []string
		wantErr bool
	}{
		{name: "GET", r: &http.Request{Method: "GET", RequestURI: "/a?b=1", Host: "a.example", Header: http.Header{"X-A": {"1", "2"}},
			Body: http.NoBody}, cl: -2, fields: []string{"Host: a.example", "X-A: 1", "X-A: 2"}},
		{name: "POST with length", r: &http.Request{Method: "POST", RequestURI: "/p", Host: "a.example",
			Header: http.Header{"Content-Length": {"5"}}, ContentLength: 5, Body: body{}}, cl: 5},
		{name: "POST without length: chunked", r: &http.Request{Method: "POST", RequestURI: "/p", Host: "a.example",
			Header: http.Header{}, ContentLength: -1, Body: body{}}, cl: -1, fields: []string{"Transfer-Encoding: chunked"}},
		{name: "too large", r: &http.Request{Method: "GET", RequestURI: "/", Host: "a.example",
			Header: http.Header{"X-Big": {strings.Repeat("a", 2000)}}, Body: http.NoBody}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			err := s.readHead(&h, tt.r)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %q", h.Header())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(h.Method()) != tt.r.Method || string(h.RequestURI()) != tt.r.RequestURI || h.ContentLength() != tt.cl {
				t.Errorf("%s %s cl %d", h.Method(), h.RequestURI(), h.ContentLength())
			}
			for _, f := range tt.fields {
				if !strings.Contains(string(h.RawHeaders()), f+"\r\n") {
					t.Errorf("raw head lacks %q: %q", f, h.RawHeaders())
				}
			}
		})
	}
}

// body is a request body of unknown content.
type body struct{}

func (body) Read([]byte) (int, error) { return 0, nil }
func (body) Close() error             { return nil }

func TestConnectionSpecific(t *testing.T) {
	for _, k := range []string{"Connection", "keep-alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "TE", "Content-Length"} {
		if !connectionSpecific([]byte(k)) {
			t.Errorf("%s kept", k)
		}
	}
	for _, k := range []string{"Content-Type", "Server", "Tee", "X-Connection", "Set-Cookie"} {
		if connectionSpecific([]byte(k)) {
			t.Errorf("%s dropped", k)
		}
	}
}

// TestDeadlineRearm: a deadline that moves later by less than rearmSlack is not passed on; a
// later, an earlier or a cleared one is.
func TestDeadlineRearm(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name       string
		last, next time.Time
		skip       bool
	}{
		{"first", time.Time{}, now, false},
		{"a little later", now, now.Add(rearmSlack / 2), true},
		{"much later", now, now.Add(2 * rearmSlack), false},
		{"earlier", now, now.Add(-time.Millisecond), false},
		{"cleared", now, time.Time{}, false},
		{"cleared twice", time.Time{}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := skip(tt.last, tt.next); got != tt.skip {
				t.Errorf("skip %v, want %v", got, tt.skip)
			}
		})
	}
}

func TestItoa(t *testing.T) {
	for _, n := range []int{0, 7, 10, 65536, 1 << 40} {
		if got, want := itoa(n), strconv.Itoa(n); got != want {
			t.Errorf("itoa(%d) = %q", n, got)
		}
	}
}

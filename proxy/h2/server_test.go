package h2

import (
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2/hpack"
)

// TestReadHead: a stream's request becomes the fasthttp head the proxy's HTTP/1.1 path reads,
// framing included; a head larger than MaxHeaderBytes is refused.
func TestReadHead(t *testing.T) {
	s := New(func(*fasthttp.RequestCtx) {}, Options{MaxHeaderBytes: 1024})
	f := func(kv ...string) []hpack.HeaderField {
		var fs []hpack.HeaderField
		for i := 0; i+1 < len(kv); i += 2 {
			fs = append(fs, hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return fs
	}
	tests := []struct {
		name    string
		st      *Stream
		cl      int // fasthttp's ContentLength: -1 chunked, -2 none
		fields  []string
		wantErr bool
	}{
		{name: "GET", st: &Stream{method: "GET", path: "/a?b=1", authority: "a.example", declared: -1,
			fields: f("x-a", "1", "x-a", "2")}, cl: -2, fields: []string{"Host: a.example", "x-a: 1", "x-a: 2"}},
		{name: "host field without :authority", st: &Stream{method: "GET", path: "/", declared: -1,
			fields: f("host", "b.example", "host", "c.example")}, cl: -2, fields: []string{"Host: b.example"}},
		{name: "cookies joined", st: &Stream{method: "GET", path: "/", authority: "a.example", declared: -1,
			fields: f("cookie", "a=1", "x-b", "2", "cookie", "c=3")}, cl: -2, fields: []string{"cookie: a=1; c=3", "x-b: 2"}},
		{name: "POST with length", st: &Stream{method: "POST", path: "/p", authority: "a.example", declared: 5, hasBody: true,
			fields: f("content-length", "5")}, cl: 5},
		{name: "POST without length: chunked", st: &Stream{method: "POST", path: "/p", authority: "a.example", declared: -1,
			hasBody: true}, cl: -1, fields: []string{"Transfer-Encoding: chunked"}},
		{name: "too large", st: &Stream{method: "GET", path: "/", authority: "a.example", declared: -1,
			fields: f("x-big", strings.Repeat("a", 2000))}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			err := s.readHead(&h, tt.st)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %q", h.Header())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(h.Method()) != tt.st.method || string(h.RequestURI()) != tt.st.path || h.ContentLength() != tt.cl {
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

// TestHeaderBlock: the response encoder's blocks decode, with any HPACK decoder, to the
// fields put in: indexed and literal statuses, static-table names, lowercased names, lengths
// past one byte.
func TestHeaderBlock(t *testing.T) {
	long := strings.Repeat("v", 300)
	for _, code := range []int{200, 204, 304, 404, 500, 101, 431, 502, 999} {
		b := appendStatus(nil, code)
		b = appendField(b, []byte("Content-Type"), []byte("text/plain"))
		b = appendField(b, []byte("X-Long-Header-Name-Past-Fifteen"), []byte(long))
		b = appendField(b, []byte("Server"), []byte("up"))
		b = appendLength(b, 12345)
		b = appendIndexedName(b, nameDate, "Sun, 06 Dec 2026 20:00:00 GMT")
		got, err := hpack.NewDecoder(4096, nil).DecodeFull(b)
		if err != nil {
			t.Fatalf("%d: %v", code, err)
		}
		want := []hpack.HeaderField{{Name: ":status", Value: strconv.Itoa(code)}, {Name: "content-type", Value: "text/plain"},
			{Name: "x-long-header-name-past-fifteen", Value: long}, {Name: "server", Value: "up"},
			{Name: "content-length", Value: "12345"}, {Name: "date", Value: "Sun, 06 Dec 2026 20:00:00 GMT"}}
		if len(got) != len(want) {
			t.Fatalf("%d: %v", code, got)
		}
		for i := range want {
			if got[i].Name != want[i].Name || got[i].Value != want[i].Value {
				t.Errorf("%d: field %d %q: %q, want %q: %q", code, i, got[i].Name, got[i].Value, want[i].Name, want[i].Value)
			}
		}
	}
}

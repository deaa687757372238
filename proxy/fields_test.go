package proxy

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestHeaderRewriteSkipsOnlyAbsentFields: rewriting a request head with the fields found by one
// scan gives the same head as looking for every field (what the proxy did before it scanned).
// The transport's TestResponseCleanSkipsOnlyAbsentFields does the same for response heads.
func TestHeaderRewriteSkipsOnlyAbsentFields(t *testing.T) {
	tests := []struct{ name, head string }{
		{"plain", "GET /a HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"},
		{"every hop field", "POST /a HTTP/1.1\r\nHost: x\r\nconnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n" +
			"KEEP-ALIVE: timeout=5\r\nProxy-Connection: keep-alive\r\nte: trailers\r\nTrailer: X-T\r\n" +
			"Upgrade: h2c\r\nExpect: 100-continue\r\nForwarded: for=1.2.3.4\r\nX-Forwarded-For: 10.0.0.1\r\n" +
			"Content-Length: 3\r\n\r\n"},
		{"chunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"HTTP/1.0", "GET /a HTTP/1.0\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n"},
		{"no fields", "GET /a HTTP/1.0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := rewriteRequest(t, []byte(tt.head)); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// FuzzHeaderRewrite: for any request head fasthttp and checkRequest accept, the scan never
// misses a field the rewrite must see. The seed corpus is in testdata/fuzz/FuzzHeaderRewrite;
// the transport's FuzzResponseClean checks response heads from a copy of it.
func FuzzHeaderRewrite(f *testing.F) {
	f.Fuzz(func(t *testing.T, head []byte) {
		if diff := rewriteRequest(t, head); diff != "" {
			t.Fatal(diff)
		}
	})
}

// rewriteRequest reads head as a request and rewrites it twice: with the fields a scan found,
// and looking for all of them. It returns what differs. (The transport's cleanBothWays does the
// same for response heads.)
func rewriteRequest(t *testing.T, head []byte) string {
	t.Helper()
	var req fasthttp.Request
	if err := req.Header.Read(bufio.NewReader(bytes.NewReader(head))); err == nil {
		s := scanHead(req.Header.RawHeaders())
		if !s.folded && !s.badName {
			var x exchange
			rewrite := func(s headScan) string {
				var ctx fasthttp.RequestCtx
				ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}, nil)
				prepareRequest(&ctx, &x, false, &s)
				return string(ctx.Request.Header.Header()) + string(x.req.Fields)
			}
			if got, want := rewrite(s), rewrite(scanHead(nil)); got != want {
				return "request " + strings.ReplaceAll(string(head), "\r\n", "|") + ":\nscanned:\n" + got + "\nall:\n" + want
			}
		}
	}
	return ""
}

// TestForwardingField: the forwarding fields the proxy replaces are found in any letter case,
// and no other field is taken for one.
func TestForwardingField(t *testing.T) {
	tests := []struct {
		name string
		want uint8
	}{
		{"X-Real-IP", fwdRealIP},
		{"x-real-ip", fwdRealIP},
		{"X-REAL-IP", fwdRealIP},
		{"X-Forwarded-Host", fwdHost},
		{"x-forwarded-host", fwdHost},
		{"X-Forwarded-Port", fwdPort},
		{"X-FORWARDED-PORT", fwdPort},
		{"X-Forwarded-Proto", fwdProto},
		{"x-forwarded-proto", fwdProto},
		// Near misses.
		{"X-Real-IP ", 0},
		{"X_Real-IP", 0},
		{"X-Forwarded-Hosts", 0},
		{"X-Forwarded-Post", 0},
		{"X-Forwarded-Prot0", 0},
		{"X-Forwarded-For", 0},
		{"X-Forwarded\x00Host", 0},
		{"Host", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := forwardingField([]byte(tt.name)); got != tt.want {
			t.Errorf("forwardingField(%q) = %b, want %b", tt.name, got, tt.want)
		}
	}
}

// TestForwardingFieldsLeaveTheHead: the client's forwarding fields leave the head, in any letter
// case, whether the scan found them or plugins ran (edited: every name is looked for); the
// proxy's are in the request's Fields; and the head normalises names again afterwards
// (setForwarded looks the canonical names up with normalising off).
func TestForwardingFieldsLeaveTheHead(t *testing.T) {
	const head = "GET /a HTTP/1.1\r\nHost: h.example:8080\r\nx-forwarded-for: 198.51.100.1\r\n" +
		"X-REAL-IP: 198.51.100.2\r\nx-forwarded-proto: ftp\r\nX-Forwarded-Host: forged\r\n" +
		"x-forwarded-port: 1\r\nforwarded: for=198.51.100.3\r\nX-Keep: k\r\n\r\n"
	for _, edited := range []bool{false, true} {
		var req fasthttp.Request
		if err := req.Header.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
			t.Fatal(err)
		}
		s := scanHead(req.Header.RawHeaders())
		s.edited = edited
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}, nil)
		var x exchange
		prepareRequest(&ctx, &x, false, &s)
		h := &ctx.Request.Header
		for _, n := range []string{"X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "Forwarded"} {
			if v := h.Peek(n); v != nil {
				t.Errorf("edited %v: the client's %s = %q is still in the head", edited, n, v)
			}
		}
		if string(h.Peek("X-Keep")) != "k" {
			t.Errorf("edited %v: X-Keep = %q", edited, h.Peek("X-Keep"))
		}
		want := "X-Forwarded-For: 198.51.100.1, 192.0.2.1\r\nX-Real-IP: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n" +
			"X-Forwarded-Host: h.example:8080\r\nX-Forwarded-Port: 8080\r\n"
		if got := string(x.req.Fields); got != want {
			t.Errorf("edited %v: Fields\n%q, want\n%q", edited, got, want)
		}
		h.Set("x-after", "1")
		if !strings.Contains(h.String(), "\r\nX-After: 1\r\n") {
			t.Errorf("edited %v: names are not normalised after setForwarded:\n%s", edited, h.String())
		}
	}
}

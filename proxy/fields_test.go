package proxy

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestFieldBit: the names of interest are found in any case, and only they.
func TestFieldBit(t *testing.T) {
	tests := []struct {
		name string
		want fieldMask
	}{
		{"Connection", fieldConnection},
		{"connection", fieldConnection},
		{"CONNECTION", fieldConnection},
		{"Keep-Alive", fieldKeepAlive},
		{"proxy-connection", fieldProxyConnection},
		{"TE", fieldTE},
		{"te", fieldTE},
		{"Trailer", fieldTrailer},
		{"Transfer-Encoding", fieldTransferEncoding},
		{"upgrade", fieldUpgrade},
		{"Content-Length", fieldContentLength},
		{"Expect", fieldExpect},
		{"Forwarded", fieldForwarded},
		{"x-forwarded-for", fieldXForwardedFor},
		{"Server", fieldServer},
		// Near misses.
		{"Connections", 0},
		{"Connectio", 0},
		{"Upgrade-Insecure-Requests", 0},
		{"Server-Timing", 0},
		{"Trailers", 0},
		{"X-Forwarded-Fox", 0},
		{"X-Forwarded-Host", 0},
		{"Content-Type", 0},
		{"Te ", 0},
		{"Tf", 0},
		{"Eexpect", 0},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fieldBit([]byte(tt.name)); got != tt.want {
				t.Errorf("fieldBit(%q) = %b, want %b", tt.name, got, tt.want)
			}
		})
	}
}

// TestHeaderRewriteSkipsOnlyAbsentFields: rewriting a head with the fields found by one scan
// gives the same head as looking for every field (what the proxy did before it scanned).
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
			if diff := rewriteBothWays(t, []byte(tt.head)); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// FuzzHeaderRewrite: for any request head fasthttp and checkRequest accept, and any response
// head fasthttp reads, the scan never misses a field the rewrite must see.
// The seed corpus is in testdata/fuzz/FuzzHeaderRewrite.
func FuzzHeaderRewrite(f *testing.F) {
	f.Fuzz(func(t *testing.T, head []byte) {
		if diff := rewriteBothWays(t, head); diff != "" {
			t.Fatal(diff)
		}
	})
}

// rewriteBothWays reads head as a request and as a response and rewrites each twice: with the
// fields a scan found, and looking for all of them. It returns what differs.
func rewriteBothWays(t *testing.T, head []byte) string {
	t.Helper()
	var req fasthttp.Request
	if err := req.Header.Read(bufio.NewReader(bytes.NewReader(head))); err == nil {
		s := scanHead(req.Header.RawHeaders())
		if !s.folded {
			var x exchange
			rewrite := func(present fieldMask) string {
				var ctx fasthttp.RequestCtx
				ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}, nil)
				prepareRequest(&ctx, &x, false, present)
				return string(ctx.Request.Header.Header())
			}
			if got, want := rewrite(s.rewrite()), rewrite(allFields); got != want {
				return "request " + strings.ReplaceAll(string(head), "\r\n", "|") + ":\nscanned:\n" + got + "\nall:\n" + want
			}
		}
	}
	resp := append([]byte("HTTP/1.1 200 OK\r\n"), afterFirstLine(head)...)
	var a, b fasthttp.ResponseHeader
	if err := a.Read(bufio.NewReader(bytes.NewReader(resp))); err == nil {
		a.CopyTo(&b)
		cleanResponse(&a)
		stripHop(&b, allFields)
		b.Del(fasthttp.HeaderServer)
		b.ResetConnectionClose()
		if got, want := string(a.Header()), string(b.Header()); got != want {
			return "response " + strings.ReplaceAll(string(resp), "\r\n", "|") + ":\nscanned:\n" + got + "\nall:\n" + want
		}
	}
	return ""
}

func afterFirstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return nil
}

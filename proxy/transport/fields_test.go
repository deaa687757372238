package transport

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestFieldOf: the names of interest are found in any case, and only they.
func TestFieldOf(t *testing.T) {
	tests := []struct {
		name string
		want Fields
	}{
		{"Connection", FieldConnection},
		{"connection", FieldConnection},
		{"CONNECTION", FieldConnection},
		{"Keep-Alive", FieldKeepAlive},
		{"proxy-connection", FieldProxyConnection},
		{"TE", FieldTE},
		{"te", FieldTE},
		{"Trailer", FieldTrailer},
		{"Transfer-Encoding", FieldTransferEncoding},
		{"upgrade", FieldUpgrade},
		{"Content-Length", FieldContentLength},
		{"Expect", FieldExpect},
		{"Forwarded", FieldForwarded},
		{"x-forwarded-for", FieldXForwardedFor},
		{"Server", FieldServer},
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
			if got := FieldOf([]byte(tt.name)); got != tt.want {
				t.Errorf("FieldOf(%q) = %b, want %b", tt.name, got, tt.want)
			}
		})
	}
}

// TestResponseCleanSkipsOnlyAbsentFields: cleaning a response head with the fields found by one
// scan gives the same head as looking for every field. (The proxy's
// TestHeaderRewriteSkipsOnlyAbsentFields does the same for request heads, from the same heads.)
func TestResponseCleanSkipsOnlyAbsentFields(t *testing.T) {
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
			if diff := cleanBothWays([]byte(tt.head)); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// FuzzResponseClean: for any response head fasthttp reads, the scan never misses a field the
// cleaning must see. It was the response half of the proxy's FuzzHeaderRewrite; its seed corpus
// in testdata/fuzz/FuzzResponseClean is a copy of that one's (request heads, whose first line is
// replaced by a status line).
func FuzzResponseClean(f *testing.F) {
	f.Fuzz(func(t *testing.T, head []byte) {
		if diff := cleanBothWays(head); diff != "" {
			t.Fatal(diff)
		}
	})
}

// cleanBothWays reads head, its first line replaced by a status line, as a response and cleans
// it twice: with the fields a scan found (cleanResponse), and looking for all of them. It
// returns what differs.
func cleanBothWays(head []byte) string {
	resp := append([]byte("HTTP/1.1 200 OK\r\n"), afterFirstLine(head)...)
	var a, b fasthttp.ResponseHeader
	if err := a.Read(bufio.NewReader(bytes.NewReader(resp))); err == nil {
		a.CopyTo(&b)
		cleanResponse(&a)
		StripHop(&b, AllFields)
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

// TestFoldNameEqual: FoldName.Equal agrees with EqualFoldLower's byte loop for every name
// FieldOf looks for and for names of every length it handles, on the name in both cases and on
// every one-byte change of it (each position, each of the 256 values), and on cut and extended
// names.
func TestFoldNameEqual(t *testing.T) {
	names := []string{"te", "expect", "server", "upgrade", "trailer", "forwarded", "connection",
		"keep-alive", "content-length", "x-forwarded-for", "proxy-connection", "transfer-encoding",
		"x", "ab", "a-c", "host", "x-y-z", "x-real-ip", "abcdefgh", "x-forwarded-proto",
		"0123456789abcdefghij-_.!", "a1b2c3d4e5f6g7h8i9j0k1l2"}
	for _, s := range names {
		k := NewFoldName(s)
		check := func(b []byte) {
			t.Helper()
			if got, want := k.Equal(b), EqualFoldLower(b, s); got != want {
				t.Fatalf("NewFoldName(%q).Equal(%q) = %v, EqualFoldLower says %v", s, b, got, want)
			}
		}
		check([]byte(s))
		check([]byte(strings.ToUpper(s)))
		for i := 0; i < len(s); i++ {
			for v := 0; v < 256; v++ {
				b := []byte(s)
				b[i] = byte(v)
				check(b)
			}
		}
		check([]byte(s[:len(s)-1]))
		check([]byte(s + "x"))
		check(nil)
	}
}

// FuzzFoldName: for any name and any candidate, FoldName.Equal agrees with EqualFoldLower.
func FuzzFoldName(f *testing.F) {
	f.Add("content-length", "Content-Length")
	f.Add("te", "TE")
	f.Add("x-forwarded-for", "X-Forwarded-For\x00")
	f.Fuzz(func(t *testing.T, name, b string) {
		name = strings.ToLower(name)
		if len(name) == 0 || len(name) > 24 {
			return
		}
		for i := 0; i < len(name); i++ {
			if name[i] >= 0x80 {
				return
			}
		}
		k := NewFoldName(name)
		if got, want := k.Equal([]byte(b)), EqualFoldLower([]byte(b), name); got != want {
			t.Fatalf("NewFoldName(%q).Equal(%q) = %v, EqualFoldLower says %v", name, b, got, want)
		}
	})
}

// TestNewFoldNameRefuses: a name FoldName cannot compare is a programming error, caught at once.
func TestNewFoldNameRefuses(t *testing.T) {
	for _, s := range []string{"", "Host", "a\x80", "0123456789abcdefghijklmno"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFoldName(%q) did not panic", s)
				}
			}()
			NewFoldName(s)
		}()
	}
}

// TestStripHopByBits: StripHop removes exactly the hop-by-hop fields whose bits present holds,
// and only those.
func TestStripHopByBits(t *testing.T) {
	if want := FieldConnection | FieldKeepAlive | FieldProxyConnection | FieldTE | FieldTrailer |
		FieldTransferEncoding | FieldUpgrade; hopFields != want {
		t.Fatalf("hopFields = %b, want %b", hopFields, want)
	}
	names := []string{"X-Other", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"}
	for i := range hopHeaders {
		for _, present := range []Fields{0, 1 << i, AllFields &^ (1 << i), AllFields} {
			var h fasthttp.RequestHeader
			for _, n := range names {
				h.Set(n, "v")
			}
			StripHop(&h, present)
			for _, n := range names {
				bit := Fields(0)
				for j, hn := range hopHeaders {
					if strings.EqualFold(hn, n) {
						bit = 1 << j
					}
				}
				gone := len(h.Peek(n)) == 0
				if want := present&bit != 0; gone != want {
					t.Errorf("present %b: %s gone = %v, want %v", present, n, gone, want)
				}
			}
		}
	}
}

// TestStripHopConnectionTokens: on heads read from the wire, the fields Connection names go,
// hop-by-hop or not, and every hop-by-hop field present; the others stay, and the head
// normalises names again afterwards (StripHop deletes canonical names with normalising off).
func TestStripHopConnectionTokens(t *testing.T) {
	const fields = "Connection: keep-alive, X-Secret, te, close\r\nKeep-Alive: timeout=5\r\nx-secret: s\r\n" +
		"te: trailers\r\nX-Keep: k\r\n\r\n"
	gone := []string{"Connection", "Keep-Alive", "X-Secret", "Te"}
	check := func(t *testing.T, h interface {
		Header
		Peek(string) []byte
		Set(string, string)
		String() string
	}, all func(yield func(k, v []byte) bool)) {
		var present Fields
		for k := range all {
			present |= FieldOf(k)
		}
		for _, p := range []Fields{present, AllFields} {
			StripHop(h, p)
			for _, n := range gone {
				if v := h.Peek(n); len(v) != 0 {
					t.Errorf("present %b: %s = %q, want it gone", p, n, v)
				}
			}
			if string(h.Peek("X-Keep")) != "k" {
				t.Errorf("present %b: X-Keep = %q, want k", p, h.Peek("X-Keep"))
			}
		}
		h.Set("x-after", "1")
		if !strings.Contains(h.String(), "\r\nX-After: 1\r\n") {
			t.Errorf("names are not normalised after StripHop:\n%s", h.String())
		}
	}
	t.Run("request", func(t *testing.T) {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n" + fields))); err != nil {
			t.Fatal(err)
		}
		check(t, &h, h.All())
	})
	t.Run("response", func(t *testing.T) {
		var h fasthttp.ResponseHeader
		if err := h.Read(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + fields))); err != nil {
			t.Fatal(err)
		}
		check(t, &h, h.All())
	})
}

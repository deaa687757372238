package proxy

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// The regression tests of issue 20's request side: each sends raw bytes over a real socket
// through a real Proxy to a recorder upstream and checks both what the client got and exactly
// what the upstream received.

// wireCase is one raw exchange and what it must produce.
type wireCase struct {
	name string
	send string
	// status is every answer the client gets, in order.
	status []int
	// upstream is every request the upstream must see, as "METHOD target body" (the body
	// Go-quoted); empty: none.
	upstream []string
	// check, when set, looks further at the upstream's requests.
	check func(t *testing.T, reqs []*wireReq)
}

func describe(r *wireReq) string {
	return r.Method + " " + r.Target + " " + strconv.Quote(string(r.Body))
}

// runWire sends each case to addr and checks the answers and the upstream's requests.
func runWire(t *testing.T, addr string, rec *recorder, cases []wireCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.take()
			codes, resp := sendRaw(t, addr, tc.send)
			reqs, garbage := rec.take()
			if fmt.Sprint(codes) != fmt.Sprint(tc.status) {
				t.Errorf("answers %v, want %v\n%q", codes, tc.status, resp)
			}
			if len(garbage) > 0 {
				t.Errorf("the upstream got bytes it cannot parse: %q", garbage)
			}
			var got []string
			for _, r := range reqs {
				got = append(got, describe(r))
			}
			if strings.Join(got, "\n") != strings.Join(tc.upstream, "\n") {
				t.Errorf("the upstream saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.upstream, "\n"))
				for _, r := range reqs {
					t.Logf("  %s", r)
				}
			}
			if tc.check != nil && len(reqs) > 0 {
				tc.check(t, reqs)
			}
		})
	}
}

// wireProxy is a proxy with the hostile limits over one catch-all route to a recorder.
func wireProxy(t testing.TB, opts Options, routeExtra string) (*harness, *recorder) {
	t.Helper()
	rec := newRecorder(t)
	h := start(t, opts, upstream.Options{}, "/apisix/routes/1", route("/*", routeExtra, "", rec.addr))
	return h, rec
}

// fieldIs checks that the last upstream request has exactly the values want of field name.
func fieldIs(name string, want ...string) func(t *testing.T, reqs []*wireReq) {
	return func(t *testing.T, reqs []*wireReq) {
		t.Helper()
		got := reqs[len(reqs)-1].values(name)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

func checks(fs ...func(t *testing.T, reqs []*wireReq)) func(t *testing.T, reqs []*wireReq) {
	return func(t *testing.T, reqs []*wireReq) {
		t.Helper()
		for _, f := range fs {
			f(t, reqs)
		}
	}
}

// TestTransferEncodingOtherThanChunked (issue 20 item 1): a Transfer-Encoding other than
// exactly "chunked" is refused with nginx's 501 and the connection closed, so that what follows
// the head never becomes a request of its own.
func TestTransferEncodingOtherThanChunked(t *testing.T) {
	h, rec := wireProxy(t, hostileOptions, "")
	runWire(t, h.addr, rec, []wireCase{
		{name: "identity smuggles a request",
			send:   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n",
			status: []int{501}},
		{name: "identity in capitals",
			send:   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: IDENTITY\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n",
			status: []int{501}},
		{name: "identity with Content-Length",
			send:   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
			status: []int{501}},
		{name: "gzip then chunked",
			send:   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
			status: []int{501}},
		{name: "chunked and Content-Length",
			send:   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
			status: []int{400}},
		{name: "chunked in HTTP/1.0", // nginx: 400
			send:   "POST /x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			status: []int{501}},
		{name: "repeated chunked", // nginx: 400
			send:   "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			status: []int{501}},
		{name: "chunked in any case is chunked",
			send:     "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			status:   []int{200},
			upstream: []string{`POST /x "abc"`}},
	})
}

// TestConnectionCannotRemoveFraming (issue 20 item 2): the fields named in Connection are
// removed, but never Content-Length, Transfer-Encoding or Host: the body is framed as the
// client framed it. TE goes (nginx sends none), Proxy-Authorization stays (nginx passes it).
func TestConnectionCannotRemoveFraming(t *testing.T) {
	h, rec := wireProxy(t, hostileOptions, "")
	runWire(t, h.addr, rec, []wireCase{
		{name: "content-length",
			send:     "POST /x HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello",
			status:   []int{200},
			upstream: []string{`POST /x "hello"`},
			check:    fieldIs("Content-Length", "5")},
		{name: "content-length then a pipelined request",
			send: "POST /x HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 35\r\n\r\n" +
				"GET /SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n" + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
			status:   []int{200, 200},
			upstream: []string{`POST /x "GET /SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n"`, `GET /next ""`}},
		{name: "transfer-encoding",
			send:     "POST /x HTTP/1.1\r\nHost: a\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			status:   []int{200},
			upstream: []string{`POST /x "hello"`}},
		{name: "host",
			send:     "GET /x HTTP/1.1\r\nHost: a.example\r\nConnection: host, x-hop\r\nX-Hop: 1\r\nX-Keep: 2\r\n\r\n",
			status:   []int{200},
			upstream: []string{`GET /x ""`},
			check:    checks(fieldIs("Host", "a.example"), fieldIs("X-Hop"), fieldIs("X-Keep", "2"))},
		{name: "hop-by-hop fields",
			send: "GET /x HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\n" +
				"Proxy-Authorization: Basic eA==\r\nUpgrade: h2c\r\n\r\n",
			status:   []int{200},
			upstream: []string{`GET /x ""`},
			check: checks(fieldIs("TE"), fieldIs("Keep-Alive"), fieldIs("Proxy-Connection"), fieldIs("Upgrade"),
				fieldIs("Proxy-Authorization", "Basic eA=="))},
	})
}

// TestInvalidFields (issue 20 item 4): a field name that is not an RFC 9110 token, a line
// without a colon, and a value with NUL or a bare CR are answered 400 and never forwarded.
// nginx answers 400 to whitespace or a control character in a name and to NUL or a bare CR in
// a value, and drops (ignore_invalid_headers on) a field whose name has another non-token
// character; fasthttp refuses those itself, so they get 400 here. Underscores are valid
// (APISIX sets underscores_in_headers on), and so are HTAB and 8-bit bytes in values.
func TestInvalidFields(t *testing.T) {
	h, rec := wireProxy(t, hostileOptions, "")
	get := func(field string) string { return "GET /x HTTP/1.1\r\nHost: a\r\n" + field + "\r\n\r\n" }
	ok := []string{`GET /x ""`}
	runWire(t, h.addr, rec, []wireCase{
		{name: "space in a name", send: get("X A: b"), status: []int{400}},
		{name: "space in a name after a valid field", send: get("X-B: c\r\nX A: b"), status: []int{400}},
		{name: "tab in a name", send: get("X\tA: b"), status: []int{400}},
		{name: "control character in a name", send: get("X\x01A: b"), status: []int{400}},
		{name: "DEL in a name", send: get("X\x7fA: b"), status: []int{400}},
		{name: "empty name", send: get(": b"), status: []int{400}},
		{name: "no colon", send: get("XA"), status: []int{400}},
		{name: "NUL in a value", send: get("X-A: b\x00c"), status: []int{400}},
		{name: "bare CR in a value", send: get("X-A: b\rc"), status: []int{400}},
		{name: "parenthesis in a name", send: get("X(A: b"), status: []int{400}},
		{name: "slash in a name", send: get("X/A: b"), status: []int{400}},
		{name: "quote in a name", send: get("X\"A: b"), status: []int{400}},
		{name: "8-bit name", send: get("X\xc3\xa9A: b"), status: []int{400}},
		{name: "underscore in a name", send: get("X_A: b"), status: []int{200}, upstream: ok, check: fieldIs("X_A", "b")},
		{name: "tab in a value", send: get("X-A: b\tc"), status: []int{200}, upstream: ok, check: fieldIs("X-A", "b\tc")},
		{name: "8-bit value", send: get("X-A: caf\xc3\xa9"), status: []int{200}, upstream: ok, check: fieldIs("X-A", "caf\xc3\xa9")},
	})
}

// TestRequestLines (issue 20 item 5): request lines nginx refuses are refused with its codes.
func TestRequestLines(t *testing.T) {
	h, rec := wireProxy(t, hostileOptions, "")
	line := func(l string) string { return l + "\r\nHost: a\r\n\r\n" }
	runWire(t, h.addr, rec, []wireCase{
		{name: "HTTP/2.0", send: line("GET /x HTTP/2.0"), status: []int{505}},
		{name: "HTTP/9.9", send: line("GET /x HTTP/9.9"), status: []int{505}},
		{name: "HTTP/0.9", send: line("GET /x HTTP/0.9"), status: []int{400}},
		{name: "lower-case protocol", send: line("GET /x http/1.1"), status: []int{400}},
		{name: "OPTIONS *", send: line("OPTIONS * HTTP/1.1"), status: []int{400}},
		{name: "CONNECT authority", send: line("CONNECT a.example:443 HTTP/1.1"), status: []int{400}},
		{name: "CONNECT path", send: line("CONNECT /x HTTP/1.1"), status: []int{405}},
		{name: "lower-case method", send: line("get /x HTTP/1.1"), status: []int{400}},
		{name: "mixed-case method", send: line("Get /x HTTP/1.1"), status: []int{400}},
		{name: "digit in a method", send: line("GET1 /x HTTP/1.1"), status: []int{400}},
		{name: "userinfo", send: line("GET http://user@a/x HTTP/1.1"), status: []int{400}},
		{name: "userinfo and password", send: line("GET http://user:pw@a/x HTTP/1.1"), status: []int{400}},
		{name: "space in the target", send: line("GET /x y HTTP/1.1"), status: []int{400}},
		{name: "extension method", send: line("FOO_BAR /x HTTP/1.1"), status: []int{200}, upstream: []string{`FOO_BAR /x ""`}},
		{name: "absolute-form", send: line("GET http://b/x?q=1 HTTP/1.1"), status: []int{200}, upstream: []string{`GET /x?q=1 ""`}},
	})
}

// TestDeclaredBodyTooLarge (issue 20 item 6, request side): a head declaring a body larger
// than client_max_body_size is answered 413 as soon as the head arrived, before any of the
// body, as nginx does; not 408 once the header timeout ran out.
func TestDeclaredBodyTooLarge(t *testing.T) {
	opts := hostileOptions
	opts.HeaderTimeout = waitFor
	h, rec := wireProxy(t, opts, "")
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	b, _ := io.ReadAll(c)
	if got := statusesOf(b); fmt.Sprint(got) != "[413]" {
		t.Errorf("answers %v after %v, want [413]: %q", got, time.Since(began), b)
	}
	if reqs, _ := rec.take(); len(reqs) > 0 {
		t.Errorf("the upstream saw %v", reqs)
	}
}

// TestSlowSteadyBody (issue 20 item 6, request side): the header timeout bounds the head
// only; a body that keeps coming, each part within the body timeout, is read to its end.
func TestSlowSteadyBody(t *testing.T) {
	opts := hostileOptions
	opts.HeaderTimeout = 300 * time.Millisecond
	opts.BodyTimeout = waitFor
	h, rec := wireProxy(t, opts, "")
	tests := []struct{ name, head, body string }{
		{"Content-Length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nConnection: close\r\n\r\n", "hello, world"},
		{"chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", "6\r\nhello,\r\n6\r\n world\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.take()
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitFor))
			if _, err := io.WriteString(c, tt.head); err != nil {
				t.Fatal(err)
			}
			// Each byte comes well within the body timeout, the whole well past the header timeout.
			if err := <-trickle(c, tt.body, 50*time.Millisecond); err != nil {
				t.Fatalf("the proxy stopped reading: %v", err)
			}
			b, _ := io.ReadAll(c)
			if got := statusesOf(b); fmt.Sprint(got) != "[200]" {
				t.Errorf("answers %v, want [200]: %q", got, b)
			}
			reqs, _ := rec.take()
			if len(reqs) != 1 || string(reqs[0].Body) != "hello, world" {
				t.Errorf("the upstream saw %v", reqs)
			}
		})
	}
}

// TestForwardingFieldsReplaced (issue 20 item 7): every field the proxy sets replaces all the
// client's fields of that name, in any letter case, and the client's X-Forwarded-For fields are
// joined in order before the client address is appended, as nginx's proxy_set_header and
// $proxy_add_x_forwarded_for do.
func TestForwardingFieldsReplaced(t *testing.T) {
	h, rec := wireProxy(t, hostileOptions, "")
	_, port, _ := net.SplitHostPort(h.addr)
	get := func(fields string) string { return "GET /x HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n" }
	ok := []string{`GET /x ""`}
	runWire(t, h.addr, rec, []wireCase{
		// From 127.0.0.1, trusted by APISIX's default real_ip_from: the first field is the
		// client address (nginx's realip reads the first X-Real-IP), and the only one sent on.
		{name: "X-Real-IP twice", send: get("X-Real-IP: 10.1.1.1\r\nx-real-ip: 10.2.2.2\r\n"),
			status: []int{200}, upstream: ok, check: checks(fieldIs("X-Real-IP", "10.1.1.1"), fieldIs("X-Forwarded-For", "10.1.1.1"))},
		{name: "X-Forwarded-Proto twice", send: get("X-Forwarded-Proto: https\r\nX-FORWARDED-PROTO: ftp\r\n"),
			status: []int{200}, upstream: ok, check: fieldIs("X-Forwarded-Proto", "http")},
		{name: "X-Forwarded-Host twice", send: get("X-Forwarded-Host: evil\r\nx-forwarded-host: evil2\r\n"),
			status: []int{200}, upstream: ok, check: fieldIs("X-Forwarded-Host", "a")},
		{name: "X-Forwarded-Port twice", send: get("X-Forwarded-Port: 1\r\nx-forwarded-port: 2\r\n"),
			status: []int{200}, upstream: ok, check: fieldIs("X-Forwarded-Port", port)},
		{name: "X-Forwarded-For twice", send: get("X-Forwarded-For: 10.1.1.1\r\nx-forwarded-for: 10.2.2.2, 10.3.3.3\r\n"),
			status: []int{200}, upstream: ok, check: fieldIs("X-Forwarded-For", "10.1.1.1, 10.2.2.2, 10.3.3.3, 127.0.0.1")},
		{name: "X-Forwarded-For once", send: get("x-forwarded-for: 10.1.1.1\r\n"),
			status: []int{200}, upstream: ok, check: fieldIs("X-Forwarded-For", "10.1.1.1, 127.0.0.1")},
		{name: "Forwarded twice", send: get("Forwarded: for=1.2.3.4\r\nforwarded: for=5.6.7.8\r\n"),
			status: []int{200}, upstream: ok, check: fieldIs("Forwarded")},
	})
}

// TestForwardedHostAndPort (issue 20 item 14): X-Forwarded-Host is the Host the client sent,
// port and case kept, and X-Forwarded-Port the port it names, else the listener's, as APISIX's
// configuration sets them (t/core/trusted-addresses.t, TEST 11 and 13).
func TestForwardedHostAndPort(t *testing.T) {
	h, rec := wireProxy(t, hostileOptions, "")
	_, port, _ := net.SplitHostPort(h.addr)
	host := func(v string) string { return "GET /x HTTP/1.1\r\nHost: " + v + "\r\n\r\n" }
	ok := []string{`GET /x ""`}
	both := func(xfh, xfp string) func(t *testing.T, reqs []*wireReq) {
		return checks(fieldIs("X-Forwarded-Host", xfh), fieldIs("X-Forwarded-Port", xfp))
	}
	runWire(t, h.addr, rec, []wireCase{
		{name: "host and port", send: host("example.com:8443"), status: []int{200}, upstream: ok, check: both("example.com:8443", "8443")},
		{name: "case kept", send: host("Example.COM:8443"), status: []int{200}, upstream: ok, check: both("Example.COM:8443", "8443")},
		{name: "no port", send: host("example.com"), status: []int{200}, upstream: ok, check: both("example.com", port)},
		{name: "IPv6 and port", send: host("[::1]:8443"), status: []int{200}, upstream: ok, check: both("[::1]:8443", "8443")},
		{name: "IPv6", send: host("[::1]"), status: []int{200}, upstream: ok, check: both("[::1]", port)},
	})
}

// TestPostArgRouteForwardsBody (issue 20 item 9): a route matched on post_arg_* reads the form
// body for matching, and that same body is forwarded. A form larger than RequestBufferSize has
// no post_arg (APISIX: a body nginx kept in a file has no post args) and still streams.
func TestPostArgRouteForwardsBody(t *testing.T) {
	rec := newRecorder(t)
	opts := hostileOptions
	opts.RequestBufferSize = 64
	opts.MaxRequestBodySize = 0
	h := start(t, opts, upstream.Options{}, "/apisix/routes/1",
		route("/form", `"vars":[["post_arg_name","==","jack"]]`, "", rec.addr))
	form := func(body string) string {
		return "POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	chunkedForm := "POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n5\r\nname=\r\n4\r\njack\r\n0\r\n\r\n"
	big := "name=jack&pad=" + strings.Repeat("p", 100)
	runWire(t, h.addr, rec, []wireCase{
		{name: "matching form", send: form("name=jack&age=3"), status: []int{200}, upstream: []string{`POST /form "name=jack&age=3"`}},
		{name: "matching chunked form", send: chunkedForm, status: []int{200}, upstream: []string{`POST /form "name=jack"`}},
		{name: "other form", send: form("name=rose"), status: []int{404}},
		{name: "form then a pipelined request", send: form("name=jack") + form("name=jack"),
			status: []int{200, 200}, upstream: []string{`POST /form "name=jack"`, `POST /form "name=jack"`}},
		{name: "form larger than the buffer", send: form(big), status: []int{404}},
	})
}

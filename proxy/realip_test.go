package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// The peers of the real-IP tests: 127.0.0.1, trusted by APISIX's default real_ip_from, and
// 127.0.0.2, another loopback address that is not.
const (
	trustedPeer   = "127.0.0.1"
	untrustedPeer = "127.0.0.2"
)

// dialFrom connects to addr from the loopback address local, skipping the test where the system
// does not route all of 127.0.0.0/8 to loopback.
func dialFrom(t testing.TB, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitFor}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if local != trustedPeer {
			t.Skipf("cannot connect from %s: %v", local, err)
		}
		t.Fatal(err)
	}
	return c
}

// rawFrom sends one request from local to the proxy at addr and returns the response's status and
// body.
func rawFrom(t testing.TB, local, addr, raw string) (int, string) {
	t.Helper()
	c := dialFrom(t, local, addr)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// echoed is the value of field in the echo backend's body ("" when absent).
func echoed(body, field string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, field+"="); ok {
			return v
		}
	}
	return ""
}

func prefixes(s ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// TestRealIP (issue 20 item 8): the client address is the one the real-IP header gives when the
// peer is trusted, and the peer's otherwise, with nginx's realip semantics (X-Real-IP: the first
// field; X-Forwarded-For: every field, last first; the rightmost address, or with
// real_ip_recursive the rightmost untrusted one; an unparsable address stops the walk). What the
// upstream receives shows it: X-Real-IP is $remote_addr and X-Forwarded-For ends with it
// ($proxy_add_x_forwarded_for).
func TestRealIP(t *testing.T) {
	xff := &RealIP{Header: "X-Forwarded-For", From: prefixes("127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32")}
	xffRec := &RealIP{Header: "X-Forwarded-For", From: xff.From, Recursive: true}
	other := &RealIP{Header: "CF-Connecting-IP", From: prefixes("127.0.0.1/32")}
	notLoopback := &RealIP{From: prefixes("10.0.0.0/8")}
	none := &RealIP{From: []netip.Prefix{}}
	tests := []struct {
		name     string
		realIP   *RealIP // nil: APISIX's defaults
		peer     string
		fields   string // header lines
		realIPIs string // the X-Real-IP the upstream gets: the client address
		xffIs    string // the X-Forwarded-For it gets
	}{
		// APISIX's defaults: X-Real-IP from 127.0.0.1.
		{"default: header from a trusted peer", nil, trustedPeer, "X-Real-IP: 203.0.113.7\r\n", "203.0.113.7", "203.0.113.7"},
		{"default: header from an untrusted peer", nil, untrustedPeer, "X-Real-IP: 203.0.113.7\r\n", untrustedPeer, untrustedPeer},
		{"default: no header", nil, trustedPeer, "", trustedPeer, trustedPeer},
		{"default: lower-case name", nil, trustedPeer, "x-real-ip: 203.0.113.7\r\n", "203.0.113.7", "203.0.113.7"},
		{"default: with a port", nil, trustedPeer, "X-Real-IP: 203.0.113.7:8080\r\n", "203.0.113.7", "203.0.113.7"},
		{"default: IPv6", nil, trustedPeer, "X-Real-IP: 2001:DB8::1\r\n", "2001:db8::1", "2001:db8::1"},
		{"default: IPv6 in brackets with a port", nil, trustedPeer, "X-Real-IP: [2001:db8::1]:443\r\n", "2001:db8::1", "2001:db8::1"},
		{"default: IPv4 in IPv6", nil, trustedPeer, "X-Real-IP: ::ffff:203.0.113.7\r\n", "203.0.113.7", "203.0.113.7"},
		{"default: a list, the rightmost", nil, trustedPeer, "X-Real-IP: 198.51.100.1, 203.0.113.7\r\n", "203.0.113.7", "203.0.113.7"},
		{"default: two fields, the first", nil, trustedPeer, "X-Real-IP: 10.1.1.1\r\nx-real-ip: 10.2.2.2\r\n", "10.1.1.1", "10.1.1.1"},
		{"default: X-Forwarded-For is not the header", nil, trustedPeer, "X-Forwarded-For: 203.0.113.7\r\n",
			trustedPeer, "203.0.113.7, " + trustedPeer},
		{"default: nginx reads leading zeros as decimal", nil, trustedPeer, "X-Real-IP: 010.001.1.1\r\n", "10.1.1.1", "10.1.1.1"},
		{"garbage: a name", nil, trustedPeer, "X-Real-IP: client.example\r\n", trustedPeer, trustedPeer},
		{"garbage: octet over 255", nil, trustedPeer, "X-Real-IP: 256.1.1.1\r\n", trustedPeer, trustedPeer},
		{"garbage: port 0", nil, trustedPeer, "X-Real-IP: 203.0.113.7:0\r\n", trustedPeer, trustedPeer},
		{"garbage: IPv6 zone", nil, trustedPeer, "X-Real-IP: fe80::1%eth0\r\n", trustedPeer, trustedPeer},
		{"garbage: empty", nil, trustedPeer, "X-Real-IP:\r\n", trustedPeer, trustedPeer},
		{"garbage: unknown", nil, trustedPeer, "X-Real-IP: unknown\r\n", trustedPeer, trustedPeer},
		{"garbage: the rightmost of a list", nil, trustedPeer, "X-Real-IP: 203.0.113.7, junk\r\n", trustedPeer, trustedPeer},

		// real_ip_from without 127.0.0.1, and empty.
		{"loopback not listed", notLoopback, trustedPeer, "X-Real-IP: 203.0.113.7\r\n", trustedPeer, trustedPeer},
		{"nothing trusted", none, trustedPeer, "X-Real-IP: 203.0.113.7\r\n", trustedPeer, trustedPeer},

		// real_ip_header X-Forwarded-For, not recursive: the rightmost address of the last field.
		{"xff: rightmost", xff, trustedPeer, "X-Forwarded-For: 203.0.113.7, 10.0.0.2\r\n",
			"10.0.0.2", "203.0.113.7, 10.0.0.2, 10.0.0.2"},
		{"xff: one address", xff, trustedPeer, "X-Forwarded-For: 203.0.113.7\r\n", "203.0.113.7", "203.0.113.7, 203.0.113.7"},
		{"xff: the last field", xff, trustedPeer, "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 198.51.100.9\r\n",
			"198.51.100.9", "203.0.113.7, 198.51.100.9, 198.51.100.9"},
		{"xff: untrusted peer", xff, untrustedPeer, "X-Forwarded-For: 203.0.113.7\r\n", untrustedPeer, "203.0.113.7, " + untrustedPeer},
		{"xff: X-Real-IP is not the header", xff, trustedPeer, "X-Real-IP: 203.0.113.7\r\n", trustedPeer, trustedPeer},
		{"xff: trailing separators", xff, trustedPeer, "X-Forwarded-For: 203.0.113.7 , ,\r\n", "203.0.113.7", "203.0.113.7 , ,, 203.0.113.7"},

		// real_ip_recursive on: the rightmost address that is not trusted.
		{"xff recursive: past the trusted", xffRec, trustedPeer, "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.3\r\n",
			"203.0.113.7", "198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.3, 203.0.113.7"},
		{"xff recursive: all trusted, the leftmost", xffRec, trustedPeer, "X-Forwarded-For: 10.0.0.5, 10.0.0.2\r\n",
			"10.0.0.5", "10.0.0.5, 10.0.0.2, 10.0.0.5"},
		{"xff recursive: across fields", xffRec, trustedPeer, "X-Forwarded-For: 203.0.113.7\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n",
			"203.0.113.7", "203.0.113.7, 10.0.0.2, 10.0.0.3, 203.0.113.7"},
		{"xff recursive: IPv6 proxies", xffRec, trustedPeer, "X-Forwarded-For: 203.0.113.7, [2001:db8::5]:8443\r\n",
			"203.0.113.7", "203.0.113.7, [2001:db8::5]:8443, 203.0.113.7"},
		{"xff recursive: IPv6 client", xffRec, trustedPeer, "X-Forwarded-For: 2001:db9::1,10.0.0.2\r\n",
			"2001:db9::1", "2001:db9::1,10.0.0.2, 2001:db9::1"},
		{"xff recursive: garbage stops the walk", xffRec, trustedPeer, "X-Forwarded-For: 203.0.113.7, garbage, 10.0.0.2\r\n",
			"10.0.0.2", "203.0.113.7, garbage, 10.0.0.2, 10.0.0.2"},
		{"xff recursive: untrusted peer", xffRec, untrustedPeer, "X-Forwarded-For: 203.0.113.7, 10.0.0.2\r\n",
			untrustedPeer, "203.0.113.7, 10.0.0.2, " + untrustedPeer},

		// Any other header: its first field.
		{"other header", other, trustedPeer, "cf-connecting-ip: 203.0.113.7\r\n", "203.0.113.7", "203.0.113.7"},
		{"other header: X-Real-IP ignored", other, trustedPeer, "X-Real-IP: 203.0.113.7\r\n", trustedPeer, trustedPeer},
	}
	up := backend(t, echo("a"))
	proxies := map[*RealIP]string{} // one per setting, living as long as the whole test
	parent := t
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, ok := proxies[tt.realIP]
			if !ok {
				addr = start(parent, Options{RealIP: tt.realIP}, upstream.Options{}, "/apisix/routes/1", route("/echo", "", "", up)).addr
				proxies[tt.realIP] = addr
			}
			code, body := rawFrom(t, tt.peer, addr, "GET /echo HTTP/1.1\r\nHost: a\r\n"+tt.fields+"Connection: close\r\n\r\n")
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if got := echoed(body, "X-Real-Ip"); got != tt.realIPIs {
				t.Errorf("upstream X-Real-IP %q, want %q", got, tt.realIPIs)
			}
			if got := echoed(body, "X-Forwarded-For"); got != tt.xffIs {
				t.Errorf("upstream X-Forwarded-For %q, want %q", got, tt.xffIs)
			}
		})
	}
}

// TestRealIPRouting (issue 20 item 8): a route matching remote_addrs, or vars on remote_addr,
// sees the address from the real-IP header when the peer is trusted, and never when it is not.
func TestRealIPRouting(t *testing.T) {
	up := backend(t, echo("a"))
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/1", route("/addrs", `"remote_addrs":["203.0.113.0/24","2001:db8::/32"]`, "", up),
		"/apisix/routes/2", route("/vars", `"vars":[["remote_addr","==","203.0.113.7"]]`, "", up),
		"/apisix/routes/3", route("/peer", `"vars":[["realip_remote_addr","==","127.0.0.1"],["remote_addr","~=","127.0.0.1"]]`, "", up),
		"/apisix/routes/4", route("/port", `"vars":[["remote_port","==","4433"]]`, "", up),
		"/apisix/routes/5", route("/noport", `"vars":[["remote_port","==",""]]`, "", up))
	tests := []struct {
		name, peer, path, fields string
		want                     int
	}{
		{"remote_addrs: trusted peer, header", trustedPeer, "/addrs", "X-Real-IP: 203.0.113.7\r\n", 200},
		{"remote_addrs: trusted peer, IPv6 header", trustedPeer, "/addrs", "X-Real-IP: 2001:db8::7\r\n", 200},
		{"remote_addrs: trusted peer, no header", trustedPeer, "/addrs", "", 404},
		{"remote_addrs: trusted peer, other address", trustedPeer, "/addrs", "X-Real-IP: 198.51.100.7\r\n", 404},
		{"remote_addrs: untrusted peer, header", untrustedPeer, "/addrs", "X-Real-IP: 203.0.113.7\r\n", 404},
		{"remote_addrs: trusted peer, garbage", trustedPeer, "/addrs", "X-Real-IP: 203.0.113.7x\r\n", 404},
		{"vars: trusted peer, header", trustedPeer, "/vars", "X-Real-IP: 203.0.113.7\r\n", 200},
		{"vars: untrusted peer, header", untrustedPeer, "/vars", "X-Real-IP: 203.0.113.7\r\n", 404},
		// $realip_remote_addr stays the peer; $remote_port is the header's port, "" without one.
		{"vars: realip_remote_addr is the peer", trustedPeer, "/peer", "X-Real-IP: 203.0.113.7\r\n", 200},
		{"vars: realip_remote_addr without a header", trustedPeer, "/peer", "", 404},
		{"vars: remote_port from the header", trustedPeer, "/port", "X-Real-IP: 203.0.113.7:4433\r\n", 200},
		{"vars: remote_port of an untrusted header", untrustedPeer, "/port", "X-Real-IP: 203.0.113.7:4433\r\n", 404},
		{"vars: no remote_port in the header", trustedPeer, "/noport", "X-Real-IP: 203.0.113.7\r\n", 200},
		{"vars: the peer's remote_port", trustedPeer, "/noport", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := rawFrom(t, tt.peer, h.addr, "GET "+tt.path+" HTTP/1.1\r\nHost: a\r\n"+tt.fields+"Connection: close\r\n\r\n")
			if code != tt.want {
				t.Errorf("status %d, want %d: %s", code, tt.want, body)
			}
		})
	}
}

// TestRealIPAccessLog (issue 20 item 8): the access log's remote_addr is the client address the
// real-IP header gave, also for a request that matched no route, and the peer's when the peer is
// not trusted.
func TestRealIPAccessLog(t *testing.T) {
	var out testutil.Buffer
	l, err := accesslog.New(accesslog.Options{Format: accesslog.FormatJSON, Fields: []string{"remote_addr", "uri"}, Writer: &out,
		FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h := start(t, Options{AccessLog: l}, upstream.Options{}, "/apisix/routes/1", route("/echo", "", "", backend(t, echo("a"))))
	tests := []struct {
		peer, uri, fields, want string
	}{
		{trustedPeer, "/echo", "X-Real-IP: 203.0.113.7\r\n", "203.0.113.7"},
		{trustedPeer, "/missing", "X-Real-IP: 2001:db8::7\r\n", "2001:db8::7"},
		{untrustedPeer, "/echo", "X-Real-IP: 203.0.113.7\r\n", untrustedPeer},
		{trustedPeer, "/echo", "", trustedPeer},
	}
	for _, tt := range tests {
		rawFrom(t, tt.peer, h.addr, "GET "+tt.uri+" HTTP/1.1\r\nHost: a\r\n"+tt.fields+"Connection: close\r\n\r\n")
		var rec struct{ RemoteAddr, URI string }
		testutil.WaitFor(t, "the access log line of "+tt.uri, waitFor, func() bool {
			line, ok := strings.CutSuffix(out.String(), "\n")
			if !ok {
				return false
			}
			rec.RemoteAddr, rec.URI = "", ""
			var m map[string]string
			if json.Unmarshal([]byte(line), &m) != nil {
				return false
			}
			rec.RemoteAddr, rec.URI = m["remote_addr"], m["uri"]
			return true
		})
		out.Take()
		if rec.RemoteAddr != tt.want || rec.URI != tt.uri {
			t.Errorf("from %s with %q: logged %+v, want remote_addr %s", tt.peer, tt.fields, rec, tt.want)
		}
	}
}

// TestRealIPUpdate (issue 20 item 8): Update changes the real-IP settings for the requests that
// start afterwards, on a connection already open too.
func TestRealIPUpdate(t *testing.T) {
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/echo", "", "", backend(t, echo("a"))))
	c := dialFrom(t, trustedPeer, h.addr)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(c)
	send := func() string {
		t.Helper()
		if _, err := io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: a\r\nX-Real-IP: 203.0.113.7\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return echoed(string(b), "X-Real-Ip")
	}
	steps := []struct {
		name   string
		realIP *RealIP
		want   string
	}{
		{"defaults", nil, "203.0.113.7"},
		{"127.0.0.1 no longer trusted", &RealIP{From: prefixes("10.0.0.0/8")}, trustedPeer},
		{"another header", &RealIP{Header: "X-Client", From: prefixes("127.0.0.0/8")}, trustedPeer},
		{"trusted again", &RealIP{From: prefixes("127.0.0.0/8")}, "203.0.113.7"},
	}
	for i, s := range steps {
		if i > 0 {
			if fixed := h.p.Update(Options{RealIP: s.realIP}); len(fixed) != 0 {
				t.Fatalf("%s: Update kept %v", s.name, fixed)
			}
		}
		if got := send(); got != s.want {
			t.Errorf("%s: X-Real-IP %q, want %q", s.name, got, s.want)
		}
	}
}
